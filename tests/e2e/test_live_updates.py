"""Live updates in a real browser: a reviewer keeps the review queue, the family page and the dashboard open while
other people request and approve a promotion; each page shows it without a reload."""

from __future__ import annotations

import re
import threading

import pytest

from tests.factories import make_user
from tests.scoring.conftest import live_model
from tests.workers import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"


def elsewhere(fn):
    """Someone else's write, made outside the browser's thread (Django refuses ORM calls where Playwright's
    event loop runs) and committed before the pages poll."""
    errors = []

    def run():
        from django.db import connection

        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - handed back to the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def test_a_request_and_its_approval_show_up_on_open_pages(live_server, chromium, settings):
    from playwright.sync_api import expect

    from registry import services as registry
    from registry.models import PromotionRequest
    from tests.e2e.pages import log_in

    settings.LIVE_POLL_SECONDS = 1
    admin, analyst = make_user("admin", username="admin"), make_user("analyst")
    make_user("reviewer")
    live_model(admin, key="old-champ", model_type="bayesian", family="offers")
    challenger = live_model(admin, key="new-hope", model_type="thompson_bandit", family="offers", rung="challenger")
    runner_up = live_model(admin, key="runner-up", model_type="epsilon_greedy", family="offers", rung="challenger")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        queue = log_in(browser, live_server.url, "reviewer")
        dashboard = queue.context.new_page()
        dashboard.goto(f"{live_server.url}/")
        family = queue.context.new_page()
        family.goto(f"{live_server.url}/families/offers/")
        queue.goto(f"{live_server.url}/reviews/")
        expect(queue.locator("#queue")).to_contain_text("Nothing waits for review")
        expect(family.locator("#champion")).to_contain_text("old-champ")
        for page in (queue, dashboard, family):
            page.evaluate("window.__sameDocument = true")
            expect(page.locator("#nav-reviews .nav-count")).to_have_count(0)

        # An analyst asks for champion: the queue, the count and the family's pending note appear by themselves.
        elsewhere(lambda: registry.model_promote(model=challenger, actor=analyst, to_status="champion",
                                                 family="offers", comment="Beats the champion on every offer"))
        card = queue.locator("article.request-card")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("new-hope")
        expect(card).to_contain_text("Beats the champion on every offer")
        expect(queue.locator("#queue-count")).to_have_text("1 pending")
        for page in (queue, dashboard, family):
            expect(page.locator("#nav-reviews .nav-count")).to_have_text(re.compile(r"^\s*1"))
        expect(family.locator(".page-title .meta")).to_contain_text("1 pending review")
        expect(dashboard.locator("#dash-activity")).to_contain_text("new-hope")

        # A comment being typed survives the next refresh (a second request arriving).
        card.get_by_label(re.compile("^Comment")).fill("Half-written thoughts")
        elsewhere(lambda: registry.model_promote(model=runner_up, actor=analyst, to_status="champion",
                                                 family="offers"))
        expect(card).to_have_count(2)
        expect(queue.locator("#queue-count")).to_have_text("2 pending")
        expect(card.first.get_by_label(re.compile("^Comment"))).to_have_value("Half-written thoughts")
        queue.screenshot(path=str(SCREENSHOTS / "live-queue-new-request.png"), full_page=True)

        # Another reviewer approves it: the family page shows the new champion, the queue empties, the count goes.
        def approve():
            request = PromotionRequest.objects.get(state="pending", model__key="new-hope")
            registry.promotion_request_approve(request=request, actor=admin, comment="fine")

        elsewhere(approve)
        expect(family.locator("#champion")).to_contain_text("new-hope")
        expect(family.locator("#members")).to_contain_text("previous champion")
        expect(card).to_have_count(1)  # new-hope's request left the queue; runner-up's is now stale
        expect(card).to_contain_text("runner-up")
        expect(card).to_contain_text("Stale: the family's champion changed since the request")
        expect(queue.locator("#decided")).to_contain_text("new-hope")
        for page in (queue, dashboard, family):
            expect(page.locator("#nav-reviews .nav-count")).to_have_text(re.compile(r"^\s*1"))
            assert page.evaluate("window.__sameDocument") is True, f"{page.url} reloaded"
        family.screenshot(path=str(SCREENSHOTS / "live-family-new-champion.png"), full_page=True)


def test_a_retrain_by_someone_else_shows_up_on_the_open_model_page(live_server, chromium, settings):
    from playwright.sync_api import expect

    from lifecycle import services
    from tests.e2e.pages import log_in
    from tests.e2e.test_review_journey import trained

    settings.LIVE_POLL_SECONDS = 1
    analyst, admin = make_user("analyst"), make_user("admin", username="admin")
    model = trained(analyst, "churn-live", n=120)

    def retrain():
        run = services.model_train_enqueue(model=model, actor=admin)
        services.run_execute(run_id=run.pk)  # a no-op when the synchronous queue ran it on commit already

    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst")
        page.goto(f"{live_server.url}/models/{model.key}/")
        expect(page.locator(".page-title .meta")).to_contain_text("Serving v1")
        page.evaluate("window.__sameDocument = true")
        elsewhere(retrain)
        expect(page.locator(".page-title .meta")).to_contain_text("Serving v2")
        assert page.evaluate("window.__sameDocument") is True
        page.screenshot(path=str(SCREENSHOTS / "live-model-retrained.png"), full_page=True)
