"""An analyst runs an experiment from the pages, in a real browser: on the family page (a champion and a challenger)
they open "New experiment" and type; someone else's experiment shows up meanwhile without losing what they typed. They
give shares that sum to 110 and see the service's refusal in place with what they typed kept, fix the share, create
the draft, start it on its page and see it running there and on the family page. The pages also fit a phone's
width."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.pages import BLOCKING, axe_violations, log_in
from tests.e2e.test_live_updates import elsewhere
from tests.factories import make_user
from tests.scoring.conftest import live_model
from tests.workers import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("EXPERIMENT_SCREENSHOTS", REPO_ROOT / "var" / "screenshots"))
FAMILY = "offers"
REFUSAL = "trafficSplit.championPct (80) plus the challengers' trafficPct (30) is 110; it must be exactly 100"


def test_an_analyst_creates_starts_and_reads_an_experiment(live_server, chromium, settings):
    from registry.models import Experiment

    settings.LIVE_POLL_SECONDS = 1
    admin = make_user("admin", username="admin")
    make_user("analyst")
    live_model(admin, key="nbo-gbm", model_type="bayesian", family=FAMILY, rung="champion")
    live_model(admin, key="nbo-bayes", model_type="bayesian", family=FAMILY, rung="challenger")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        pages = []
        try:
            journey(browser, live_server.url, pages, admin)
            narrow(browser, live_server.url, pages)
        except Exception:
            for i, page in enumerate(pages):
                page.screenshot(path=str(SCREENSHOTS / f"experiment-journey-failure-{i}.png"), full_page=True)
            raise

    experiment = Experiment.objects.get(key="nbo-ab")
    assert experiment.status == "active" and experiment.started_at is not None
    assert {a.arm: a.traffic_pct for a in experiment.arms.all()} == {"__champion__": 80, "__holdout__": 0,
                                                                     "nbo-bayes": 20}


def journey(browser, base_url, pages, admin):
    from playwright.sync_api import expect

    from registry import experiments

    analyst = log_in(browser, base_url, "analyst")
    pages.append(analyst)
    analyst.goto(f"{base_url}/families/{FAMILY}/")
    section = analyst.locator("#experiments")
    expect(section).to_contain_text("No experiments in this family yet.")
    section.locator("summary", has_text="New experiment").click()
    section.get_by_label("Key").fill("nbo-ab")
    section.get_by_label("Name").fill("Bayes against GBM")
    expect(section.get_by_label(re.compile("^Champion"))).to_have_value("80")
    section.get_by_label(re.compile("^Challenger nbo-bayes")).fill("30")
    assert not blocking_violations(analyst), blocking_violations(analyst)

    # Someone else's experiment appears by itself; the open form keeps what was typed.
    analyst.evaluate("window.__sameDocument = true")
    elsewhere(lambda: experiments.experiment_create(actor=admin, key="nbo-baseline", name="Champion alone",
                                                    family=FAMILY, champion_model_id="nbo-gbm", champion_pct=100))
    expect(section.locator(".experiment").filter(has_text="nbo-baseline")).to_contain_text("Champion alone")
    expect(section.get_by_label("Key")).to_have_value("nbo-ab")
    expect(section.get_by_label(re.compile("^Challenger nbo-bayes"))).to_have_value("30")
    assert analyst.evaluate("window.__sameDocument") is True, "the family page reloaded"

    # The wrong split: the service's sentence in place, without a reload, and nothing typed is lost.
    analyst.evaluate("window.__sameDocument = true")
    section.get_by_role("button", name="Create draft").click()
    section = analyst.locator("#experiments")
    expect(section.get_by_role("alert")).to_contain_text(f"Refused: {REFUSAL}")
    expect(section.get_by_label("Key")).to_have_value("nbo-ab")
    expect(section.get_by_label("Name")).to_have_value("Bayes against GBM")
    expect(section.get_by_label(re.compile("^Challenger nbo-bayes"))).to_have_value("30")
    assert analyst.evaluate("window.__sameDocument") is True, "the refusal reloaded the page"
    analyst.screenshot(path=str(SCREENSHOTS / "experiment-refused.png"), full_page=True)

    # Fixed: the draft is created and its page opens.
    section.get_by_label(re.compile("^Challenger nbo-bayes")).fill("20")
    section.get_by_role("button", name="Create draft").click()
    expect(analyst).to_have_url(re.compile(r"/experiments/nbo-ab/$"))
    expect(analyst.get_by_role("heading", level=1)).to_contain_text("Bayes against GBM")
    expect(analyst.locator(".page-head .badge")).to_have_text("draft")
    expect(analyst.get_by_role("status").first).to_contain_text("Created Bayes against GBM as a draft")
    expect(analyst.locator("#results")).to_contain_text("Champion 80% · nbo-bayes 20%")
    analyst.screenshot(path=str(SCREENSHOTS / "experiment-draft.png"), full_page=True)

    # Start it, in place: it runs.
    analyst.evaluate("window.__sameDocument = true")
    analyst.get_by_role("button", name="Start").click()
    expect(analyst.locator(".page-head .badge")).to_have_text("active")
    expect(analyst.locator("#state")).to_contain_text("Running: each customer's decisions come from the arm")
    expect(analyst.get_by_role("button", name="Pause")).to_be_visible()
    expect(analyst.get_by_role("button", name="Complete")).to_be_visible()
    expect(analyst.get_by_role("button", name="Start")).to_have_count(0)
    assert analyst.evaluate("window.__sameDocument") is True, "starting reloaded the page"
    assert not blocking_violations(analyst), blocking_violations(analyst)
    analyst.screenshot(path=str(SCREENSHOTS / "experiment-running.png"), full_page=True)

    # The family page reads it as running, with a way back to its page.
    analyst.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=FAMILY).click()
    experiment = analyst.locator("#experiments .experiment").filter(has_text="nbo-ab")
    expect(experiment).to_contain_text("active")
    expect(experiment.get_by_role("link", name="Bayes against GBM")).to_have_attribute(
        "href", "/experiments/nbo-ab/")
    analyst.locator("#experiments").screenshot(path=str(SCREENSHOTS / "experiment-family.png"))


def narrow(browser, base_url, pages):
    """At a phone's width the experiments fit: nothing in them reaches past the screen's edge (a wide table scrolls
    inside its own box)."""
    from playwright.sync_api import expect

    phone = log_in(browser, base_url, "analyst", width=390)
    pages.append(phone)
    for path, part, name in ((f"/families/{FAMILY}/", "#experiments", "family"),
                             ("/experiments/nbo-ab/", "#experiment-main", "page")):
        phone.goto(base_url + path)
        if name == "family":
            phone.locator("#experiments summary", has_text="New experiment").click()
            expect(phone.locator("#experiments").get_by_label("Key")).to_be_visible()
        phone.locator(part).screenshot(path=str(SCREENSHOTS / f"experiment-{name}-390.png"))
        past = phone.evaluate("""part => {
            const edge = document.documentElement.clientWidth;
            const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
                if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
            return [...document.querySelectorAll(part + ', ' + part + ' *')]
                .filter(el => el.getBoundingClientRect().right > edge + 0.5 && !scrolls(el))
                .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className);
        }""", part)
        assert not past, f"{path}: {past} reach past the edge at 390px"


def blocking_violations(page) -> list[str]:
    return [f"{v['id']}: {v['help']} {v['nodes']}" for v in axe_violations(page) if v["impact"] in BLOCKING]
