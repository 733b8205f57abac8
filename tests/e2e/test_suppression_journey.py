"""An analyst adds a suppression rule on the catalog page, in a real browser: a refused rule keeps what they
typed, the fixed one is listed, and after the customer declines the offer the next recommendation leaves it out;
the trace page names the rule that suppressed it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.e2e.pages import BLOCKING, axe_violations, log_in
from tests.e2e.test_live_updates import elsewhere
from tests.factories import make_user
from tests.scoring.conftest import live_model, make_catalog

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_suppression_rule_made_on_the_catalog_page_holds_back_a_declined_offer(live_server, chromium):
    from playwright.sync_api import expect

    from scoring import services
    from scoring.models import SuppressionRule

    admin = make_user("admin", username="admin")
    make_user("analyst")
    make_catalog()
    live_model(admin, key="nbo", model_type="bayesian")

    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst")
        page.goto(live_server.url + reverse("scoring:catalog"))
        page.get_by_role("link", name="New suppression rule").click()
        page.get_by_label("Key").fill("no-repeat")
        page.get_by_label("Name").fill("No repeat after a decline")
        page.get_by_label("After outcomes").fill("decline, nope")
        page.get_by_label("Days").fill("7")
        page.get_by_role("button", name="Create suppression rule").click()
        expect(page.get_by_text("Give an offer or a category")).to_be_visible()
        expect(page.get_by_text("Unknown outcome types: nope")).to_be_visible()
        expect(page.get_by_label("Key")).to_have_value("no-repeat")
        blocking = {}
        blocking["refused form"] = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
        page.get_by_label(re.compile(r"^Offer\b")).select_option(label="offer-1")
        page.get_by_label("After outcomes").fill("decline")
        page.get_by_role("button", name="Create suppression rule").click()
        expect(page.get_by_text("Created suppression rule no-repeat.")).to_be_visible()
        expect(page.get_by_role("row", name="no-repeat")).to_contain_text("offer offer-1")
        blocking["catalog"] = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
        assert not any(blocking.values()), blocking
        seen = {}

        def decline_and_recommend_again():
            assert SuppressionRule.objects.get(key="no-repeat").outcomes == ["decline"]
            before = services.recommend(actor=admin, customer_id="c-7", channel="email", family="offers", limit=4)
            services.respond(actor=admin, idempotency_key="decline-1", customer_id="c-7", outcome="decline",
                             offer_id="offer-1", family="offers")
            after = services.recommend(actor=admin, customer_id="c-7", channel="email", family="offers", limit=4)
            seen.update(before=[o["offerId"] for o in before.offers], after=[o["offerId"] for o in after.offers],
                        rec=after.recommendation_id)

        elsewhere(decline_and_recommend_again)
        assert "offer-1" in seen["before"] and "offer-1" not in seen["after"]

        page.goto(live_server.url + reverse("scoring:trace-detail", args=[seen["rec"]]))
        expect(page.get_by_text("offer-1: rule no-repeat, decline on offer-1 within 7 days")).to_be_visible()
        page.context.close()
