"""The reviewer's journey in a real browser: an analyst asks for champion in a family that has one, a reviewer
(in a browser context of their own) sees the pending count, compares candidate and champion in the queue and
approves without a page reload; the family page then shows the new champion and the old one archived."""

from __future__ import annotations

import re

import pytest

from tests.e2e.pages import log_in
from tests.factories import add_samples, make_model, make_user
from tests.workers import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
FAMILY = "credit_propensity"


def trained(actor, key: str, n: int):
    """A ready, active model, trained inline (run_execute) the way the worker would."""
    from lifecycle import services
    from registry import services as registry

    model = make_model(actor, key=key)
    # One population, so the guard's drift check passes; some noise, so the model is good but not perfect (a
    # perfect one's top tiers coincide, a quality warning the guard would count).
    add_samples(model, actor, n=n, noise=0.1)
    run = services.model_train_enqueue(model=model, actor=actor)
    services.run_execute(run_id=run.pk)  # a no-op when the synchronous queue ran it on commit already
    model.refresh_from_db()
    assert model.state == "ready", model.last_run.error
    return registry.model_set_status(model=model, actor=actor, status="active")


def test_analyst_requests_champion_and_a_reviewer_approves_it(live_server, chromium):
    from registry import services as registry

    analyst, admin = make_user("analyst"), make_user("admin", username="admin")
    make_user("reviewer")
    old = trained(analyst, "gbm-v7", n=120)
    new = trained(analyst, "bayes-v3", n=160)
    registry.model_promote(model=old, actor=analyst, to_status="challenger", family=FAMILY)
    registry.model_promote(model=old, actor=admin, to_status="champion", family=FAMILY, metrics_snapshot={"auc": 0.80})
    registry.model_promote(model=new, actor=analyst, to_status="challenger", family=FAMILY)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        pages = []
        try:
            journey(browser, live_server.url, pages)
        except Exception:
            for i, page in enumerate(pages):
                page.screenshot(path=str(SCREENSHOTS / f"review-journey-failure-{i}.png"), full_page=True)
            raise

    old.refresh_from_db()
    new.refresh_from_db()
    assert (new.registry_status, old.registry_status) == ("champion", "archived")


def journey(browser, base_url, pages):
    from playwright.sync_api import expect

    # The analyst asks for champion from the model page: the guard's verdict shows before the request.
    analyst = log_in(browser, base_url, "analyst")
    pages.append(analyst)
    analyst.goto(f"{base_url}/models/bayes-v3/")
    live = analyst.locator("#live")
    expect(live).to_contain_text("Path to live")
    expect(live.get_by_label("Family")).to_have_value(FAMILY)
    live.get_by_label(re.compile("^AUC")).fill("0.81")
    expect(live.locator("#guard-preview")).to_contain_text("passes")
    expect(live.locator("#guard-preview")).to_contain_text("Compared with gbm-v7")
    live.get_by_label(re.compile("^Comment")).fill("Wins the A/B by three points")
    live.get_by_role("button", name="Request champion").click()
    expect(analyst.locator("#live")).to_contain_text(re.compile(r"is now pending as request #\d+"))
    expect(analyst.locator("#live .pending-note")).to_contain_text("challenger → champion of credit_propensity")
    expect(analyst.locator("#live").get_by_role("button", name="Cancel request")).to_be_visible()
    folded = analyst.locator("#live").get_by_role("button", name="Request champion", include_hidden=True)
    expect(folded).to_be_disabled()  # inside the folded ladder form, with its reason
    analyst.locator("#live").screenshot(path=str(SCREENSHOTS / "review-analyst-requested.png"))
    analyst.screenshot(path=str(SCREENSHOTS / "review-model-page.png"), full_page=True)

    # The reviewer, in a context of their own, sees the count in the navigation and opens the queue.
    reviewer = log_in(browser, base_url, "reviewer")
    pages.append(reviewer)
    nav_reviews = reviewer.locator("#nav-reviews")
    expect(nav_reviews.locator(".nav-count")).to_have_text(re.compile(r"^\s*1"))
    nav_reviews.click()
    expect(reviewer.get_by_role("heading", name=re.compile("^Reviews"))).to_be_visible()
    card = reviewer.locator("article.request-card").first
    expect(card).to_contain_text("bayes-v3")
    expect(card).to_contain_text("Wins the A/B by three points")
    compare = card.locator("table.compare-table")
    expect(compare.locator("thead")).to_contain_text("Current champion")
    expect(compare.get_by_role("row", name=re.compile(r"^Model"))).to_contain_text("gbm-v7")
    expect(compare.get_by_role("row", name=re.compile(r"^AUC churn"))).to_contain_text(
        re.compile(r"[01]\.\d{3}\s+[01]\.\d{3}"))
    expect(compare.get_by_role("row", name=re.compile(r"^Samples"))).to_contain_text(re.compile(r"160\s+120\s+\+40"))
    expect(compare.get_by_role("row", name=re.compile(r"^Metrics snapshot"))).to_contain_text("auc 0.81")
    expect(card).to_contain_text("Guard when asked: passes")
    reviewer.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)

    # Approve without a page reload: the card changes in place and the count leaves the navigation.
    reviewer.evaluate("window.__sameDocument = true")
    card.get_by_label(re.compile("^Comment")).fill("Checked the A/B and the drift: fine")
    approvals = []  # champion approval is irreversible: it asks first
    reviewer.once("dialog", lambda dialog: (approvals.append(dialog.message), dialog.accept()))
    card.get_by_role("button", name=re.compile("^Approve")).click()
    decided = reviewer.locator("article.request-card").first
    expect(decided).to_contain_text("Approved: bayes-v3 is now champion of credit_propensity; gbm-v7 is archived.")
    assert approvals == [f"Make bayes-v3 champion of {FAMILY}? It decides for the family at once and gbm-v7 is archived."]
    expect(decided).to_contain_text("approved by reviewer")
    expect(nav_reviews.locator(".nav-count")).to_have_count(0)
    expect(reviewer.locator("#queue-count")).to_have_text("0 pending")
    expect(reviewer.locator("#decided")).to_contain_text("bayes-v3")
    expect(decided.locator("thead")).to_contain_text("Champion it replaced")
    assert reviewer.evaluate("window.__sameDocument") is True, "the approval reloaded the page"
    reviewer.screenshot(path=str(SCREENSHOTS / "review-approved.png"), full_page=True)

    # The request's own page keeps the comparison and the request's history.
    decided.get_by_role("link", name=re.compile(r"^Request #\d+$")).click()
    expect(reviewer.locator("#request-history-title")).to_be_visible()
    expect(reviewer.locator(".timeline")).to_contain_text("Promotion approved")
    reviewer.screenshot(path=str(SCREENSHOTS / "review-request-detail.png"), full_page=True)
    decided = reviewer.locator("article.request-card").first

    # The family page: the new champion, the old one archived (and offered for a rollback).
    decided.get_by_role("link", name="Family credit_propensity").click()
    expect(reviewer.get_by_role("heading", name=re.compile(FAMILY))).to_be_visible()
    expect(reviewer.locator("#champion")).to_contain_text("bayes-v3")
    old_row = reviewer.locator("#members tbody tr").filter(has_text="gbm-v7")
    expect(old_row).to_contain_text("archived")
    expect(old_row).to_contain_text("previous champion")
    expect(reviewer.get_by_role("button", name="Roll back to gbm-v7")).to_be_visible()
    expect(reviewer.locator("#history")).to_contain_text("Registry demoted")
    reviewer.screenshot(path=str(SCREENSHOTS / "review-family.png"), full_page=True)
    # The one-click rollback asks first; dismissing the dialog changes nothing.
    dialogs = []
    reviewer.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    reviewer.get_by_role("button", name="Roll back to gbm-v7").click()
    expect(reviewer.locator("#champion")).to_contain_text("bayes-v3")
    assert dialogs == [f"Roll {FAMILY} back? gbm-v7 becomes champion again and bayes-v3 is archived."], dialogs

    reviewer.get_by_role("navigation", name="Main").get_by_role("link", name="Families").click()
    expect(reviewer.get_by_role("row", name=re.compile(FAMILY))).to_contain_text("bayes-v3")
    reviewer.screenshot(path=str(SCREENSHOTS / "review-families.png"), full_page=True)

    reviewer.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    reviewer.get_by_label("Action").fill("promotion.")
    expect(reviewer.locator("#results")).to_contain_text("2 rows match")
    expect(reviewer.locator("#audit-export")).to_have_attribute("href", re.compile(r"action=promotion\."))
    reviewer.screenshot(path=str(SCREENSHOTS / "review-audit.png"), full_page=True)

    # Back on the analyst's page: the promoted step is done.
    analyst.reload()
    expect(analyst.locator("#live-promoted")).to_contain_text(f"Champion of {FAMILY}")
    expect(analyst.locator("#live-promoted")).to_have_class(re.compile("is-done"))
    analyst.locator("#live").screenshot(path=str(SCREENSHOTS / "review-analyst-champion.png"))
