"""Version governance in a real browser: an analyst retrains a champion on drifted data and the guard holds the
new version (the model keeps serving the approved one); a reviewer sees both versions scored on the same rows,
approves, and the family page shows the champion serving the new version with the approval in its history."""

from __future__ import annotations

import random
import re

import pytest

from tests.e2e.pages import log_in
from tests.e2e.test_review_journey import trained
from tests.factories import make_user, sample_rows
from tests.workers import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"


def drifted_feedback(model, actor, n=160):
    """Labelled rows from a population that stays longer and spends more: every feature drifted."""
    from lifecycle import services
    from lifecycle.choices import SampleSource

    rng = random.Random(11)
    rows = sample_rows(n, seed=11)
    for row in rows:
        row["features"]["tenure"] = row["features"]["tenure"] * 8 + rng.randint(100, 200)
        row["features"]["spend"] = row["features"]["spend"] * 20 + 1000
    services.sample_add_batch(model=model, actor=actor, samples=rows, source=SampleSource.FEEDBACK)


def execute_queued_runs():
    """Run what the Retrain button queued, as the worker would (a no-op when the synchronous queue ran it already).
    In a thread of its own: Django refuses ORM calls in the thread where Playwright's event loop runs."""
    import threading

    from django.db import connection

    from lifecycle import services
    from lifecycle.models import TrainingRun

    def work():
        try:
            for run_id in TrainingRun.objects.filter(status="queued").values_list("pk", flat=True):
                services.run_execute(run_id=run_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=120)


def test_a_drifted_retrain_is_held_then_approved_by_a_reviewer(live_server, chromium):
    from registry import services as registry

    analyst, admin = make_user("analyst"), make_user("admin", username="admin")
    make_user("reviewer")
    model = trained(analyst, "churn-gbm", n=160)
    registry.model_promote(model=model, actor=analyst, to_status="challenger", family="churn")
    registry.model_promote(model=model, actor=admin, to_status="champion", family="churn")
    drifted_feedback(model, analyst)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        pages = []
        try:
            journey(browser, live_server.url, pages)
        except Exception:
            for i, page in enumerate(pages):
                page.screenshot(path=str(SCREENSHOTS / f"version-journey-failure-{i}.png"), full_page=True)
            raise

    model.refresh_from_db()
    assert model.active_version.version_no == 2 and not model.pinned


def journey(browser, base_url, pages):
    from playwright.sync_api import expect

    # The analyst retrains the champion; the guard holds v2 and the model keeps serving v1.
    analyst = log_in(browser, base_url, "analyst")
    pages.append(analyst)
    analyst.goto(f"{base_url}/models/churn-gbm/")
    analyst.get_by_role("button", name="Retrain", exact=True).click()
    expect(analyst.locator("#runs")).to_contain_text("Retrain")  # queued (or already run)
    execute_queued_runs()
    analyst.goto(f"{base_url}/models/churn-gbm/")
    expect(analyst.locator(".page-head")).to_contain_text("Serving v1")
    held = analyst.locator("#live .held-note")
    expect(held).to_contain_text(re.compile(r"Request #\d+: serve v2 instead of v1"))
    expect(held).to_contain_text("The guard held v2")
    expect(held).to_contain_text("drifted")
    expect(analyst.locator("#live")).to_contain_text("its version policy is guard")
    versions = analyst.locator("table.versions-table")
    expect(versions.get_by_role("row", name=re.compile(r"^v2"))).to_contain_text("held for review")
    analyst.screenshot(path=str(SCREENSHOTS / "version-held-model-page.png"), full_page=True)

    # The reviewer sees the version change in the queue, with both versions scored on the same rows.
    reviewer = log_in(browser, base_url, "reviewer")
    pages.append(reviewer)
    expect(reviewer.locator("#dash-reviews")).to_contain_text("serve v2 instead of v1")
    reviewer.goto(f"{base_url}/reviews/")
    card = reviewer.locator("article.request-card").first
    expect(card).to_contain_text("serve v2 instead of v1")
    expect(card.locator("thead").first).to_contain_text("Asking to serve")
    paired = card.locator(".paired")
    expect(paired).to_contain_text("both versions scored on the same holdout rows")
    expect(paired.locator("tbody tr").first).to_contain_text(re.compile(r"churn\s+\d+"))
    expect(card).to_contain_text("Guard when asked: would refuse")
    reviewer.screenshot(path=str(SCREENSHOTS / "version-review-queue.png"), full_page=True)
    card.get_by_label(re.compile("^Comment")).fill("The new population is real: marketing moved upmarket")
    reviewer.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Approve: serve v2").click()
    decided = reviewer.locator("article.request-card").first
    expect(decided).to_contain_text("Approved: churn-gbm serves v2 now")

    # The family page shows the champion serving v2, and the approval in the family's history.
    reviewer.goto(f"{base_url}/families/churn/")
    expect(reviewer.locator("#champion")).to_contain_text("v2")
    expect(reviewer.locator("#versions-policy")).not_to_contain_text("Held for review")
    history = reviewer.locator("#history")
    expect(history).to_contain_text("churn-gbm")
    expect(history).to_contain_text(re.compile("approved", re.IGNORECASE))
    reviewer.screenshot(path=str(SCREENSHOTS / "version-family-after-approval.png"), full_page=True)
