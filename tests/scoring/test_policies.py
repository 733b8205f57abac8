"""Impressions, suppression rules, contact policies and creatives (issue 14, points 6 and 7): what a customer is
shown again, how often, and where a creative's response is learned."""

from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scoring import services
from scoring.models import ContactPolicy, DecisionTrace, Impression, Interaction, ModelAdaptation, SuppressionRule
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db


def recommend(api, customer="c1", **body):
    r = api.post("/api/v1/recommend", {"customerId": customer, "family": "offers", "channel": "email", **body},
                 format="json")
    assert r.status_code == 200, r.content
    return r.json()


def trace_of(api, rec):
    r = api.get(f"/api/v1/decision-traces/{rec['recommendationId']}")
    assert r.status_code == 200, r.content
    return r.json()


def shown(rec):
    return [o["offerId"] for o in rec["offers"]]


@pytest.fixture
def champion(admin_user, catalog):
    return live_model(admin_user, key="nbo", model_type="bayesian")


def test_recommend_writes_one_impression_per_offer_shown(api, champion):
    rec = recommend(api, limit=3)
    rows = Impression.objects.filter(recommendation__recommendation_id=rec["recommendationId"])
    assert sorted(r.offer_key for r in rows) == sorted(shown(rec))
    assert {(r.customer_id, r.channel, r.direction) for r in rows} == {("c1", "email", "outbound")}


def test_the_trace_reports_the_funnel_and_each_stage_carries_its_duration(api, champion):
    trace = trace_of(api, recommend(api, limit=2))
    assert trace["funnel"] == {"candidateCount": 4, "afterQualification": 4, "afterSuppression": 4,
                               "afterContactPolicy": 4, "finalCount": 2}
    stages = [s["stage"] for s in trace["pipeline"]]
    assert stages == ["candidates", "qualification", "suppression", "contactPolicy", "scoring", "ranking"]
    assert all(isinstance(s["durationMs"], float) and s["durationMs"] >= 0 for s in trace["pipeline"])
    assert trace["suppressionResults"] == [] and trace["contactPolicyResults"] == []


def test_an_offer_declined_is_not_shown_again_for_the_rule_s_days(api, champion):
    r = api.post("/api/v1/suppression-rules", {"key": "no-repeat", "name": "No repeat", "offer": "offer-1",
                                               "outcomes": ["decline"], "days": 7}, format="json")
    assert r.status_code == 201, r.content
    assert "offer-1" in shown(recommend(api, limit=4))
    r = api.post("/api/v1/respond", {"customerId": "c1", "offerId": "offer-1", "outcome": "decline",
                                     "idempotencyKey": "d-1"}, format="json")
    assert r.status_code == 201, r.content
    rec = recommend(api, limit=4)
    assert "offer-1" not in shown(rec) and len(rec["offers"]) == 3
    trace = trace_of(api, rec)
    assert trace["funnel"]["afterSuppression"] == 3
    assert trace["suppressionResults"][0]["offerId"] == "offer-1"
    assert trace["suppressionResults"][0]["rule"] == "no-repeat"
    assert "offer-1" in shown(recommend(api, customer="c2", limit=4)), "another customer still sees it"
    # After the rule's days the offer comes back.
    Impression.objects.all().delete()
    Interaction.objects.update(timestamp=timezone.now() - timedelta(days=8))
    assert "offer-1" in shown(recommend(api, limit=4))


def test_a_category_rule_counts_impressions_of_the_whole_category(api, champion):
    # offer-1 and offer-3 are cards: after two impressions of cards within a day, no card is shown.
    r = api.post("/api/v1/suppression-rules", {"key": "cards-twice", "name": "Cards twice", "category": "cards",
                                               "outcomes": [], "maxImpressions": 2, "days": 1}, format="json")
    assert r.status_code == 201, r.content
    first = recommend(api, limit=4)
    assert {"offer-1", "offer-3"} <= set(shown(first))
    second = recommend(api, limit=4)
    assert set(shown(second)) == {"offer-0", "offer-2"}


def test_the_contact_policy_caps_impressions_per_customer_and_window(api, champion):
    r = api.post("/api/v1/contact-policies", {"key": "email-week", "name": "Email weekly", "channel": "email",
                                              "maxImpressions": 3, "windowHours": 168}, format="json")
    assert r.status_code == 201, r.content
    assert len(recommend(api, limit=2)["offers"]) == 2
    rec = recommend(api, limit=2)
    assert len(rec["offers"]) == 1, "one impression left in the window"
    trace = trace_of(api, rec)
    assert trace["funnel"]["afterContactPolicy"] == 1 and trace["funnel"]["finalCount"] == 1
    assert trace["contactPolicyResults"] == [{"policy": "email-week", "channel": "email", "maxImpressions": 3,
                                              "windowHours": 168, "used": 2, "remaining": 1}]
    assert recommend(api, limit=2)["offers"] == []
    assert len(recommend(api, limit=2, channel="web")["offers"]) == 2, "another channel has its own budget"
    assert len(recommend(api, customer="c2", limit=2)["offers"]) == 2, "another customer has their own"


def test_a_channel_that_reports_its_own_impressions_counts_those_not_the_recommendations(api, champion):
    r = api.put("/api/v1/channels/email", {"key": "email", "name": "Email", "direction": "outbound",
                                           "tracksImpressions": True}, format="json")
    assert r.status_code == 200 and r.json()["tracksImpressions"] is True, r.content
    api.post("/api/v1/contact-policies", {"key": "email-week", "name": "Email weekly", "channel": "email",
                                          "maxImpressions": 1, "windowHours": 168}, format="json")
    rec = recommend(api, limit=2)
    assert len(rec["offers"]) == 1 and not Impression.objects.exists(), "the channel has not reported a showing"
    assert len(recommend(api, limit=2)["offers"]) == 1
    r = api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "impression", "idempotencyKey": "shown-1"}, format="json")
    assert r.status_code == 201, r.content
    row = Impression.objects.get()
    assert (row.offer_key, row.channel, row.recommendation.recommendation_id) == (
        rec["offers"][0]["offerId"], "email", rec["recommendationId"])
    assert recommend(api, limit=2)["offers"] == [], "the reported showing spent the budget"


def test_the_catalog_page_says_who_records_a_channel_s_impressions(as_analyst, catalog):
    r = as_analyst.post(reverse("scoring:catalog-edit", args=["channels", "email"]),
                        {"key": "email", "name": "Email", "direction": "outbound", "tracks_impressions": "on"})
    assert r.status_code == 302, r.content
    page = unescape(as_analyst.get(reverse("scoring:catalog")).content.decode())
    assert "reported by the channel" in page and "recorded by recommend" in page


def test_impressions_are_counted_with_one_grouped_query(api, champion, admin_user):
    api.post("/api/v1/contact-policies", {"key": "all", "name": "All", "maxImpressions": 50}, format="json")
    for i in range(4):
        api.post("/api/v1/suppression-rules", {"key": f"r{i}", "name": "r", "offer": f"offer-{i}",
                                               "outcomes": [], "maxImpressions": 9, "days": i + 1}, format="json")
    recommend(api, limit=4)
    with CaptureQueriesContext(connection) as ctx:
        services.recommend(actor=admin_user, customer_id="c1", channel="email", family="offers", limit=4)
    counting = [q["sql"] for q in ctx.captured_queries if "scoring_impression" in q["sql"]
                and q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(counting) == 1, counting  # one, under the customer's lock, for the rules' caps and the policy


def test_impressions_past_retention_are_purged(api, champion, settings):
    settings.IMPRESSION_RETENTION_DAYS = 30
    recommend(api, limit=2)
    assert services.impressions_purge() == 0
    assert services.impressions_purge(now=timezone.now() + timedelta(days=31)) == 2
    from django_q.models import Schedule

    from lifecycle.schedules import ensure_schedules
    ensure_schedules()
    assert Schedule.objects.get(func="scoring.tasks.purge_impressions").minutes == 24 * 60


@pytest.mark.parametrize("url,body,field", [
    ("suppression-rules", {"key": "x", "name": "x", "outcomes": ["decline"]}, "offer"),
    ("suppression-rules", {"key": "x", "name": "x", "offer": "offer-1", "category": "cards"}, "offer"),
    ("suppression-rules", {"key": "x", "name": "x", "offer": "offer-1", "outcomes": ["nope"]}, "outcomes"),
    ("suppression-rules", {"key": "x", "name": "x", "offer": "offer-1", "days": 9999}, "days"),
    ("suppression-rules", {"key": "x", "name": "x", "offer": "offer-1", "outcomes": []}, "outcomes"),
    ("contact-policies", {"key": "x", "name": "x", "maxImpressions": 3, "windowHours": 0}, "windowHours"),
    ("contact-policies", {"key": "x", "name": "x", "maxImpressions": -1}, "maxImpressions"),
    ("creatives", {"key": "x", "name": "x", "offer": "nope"}, "offer"),
])
def test_bad_rules_are_refused_in_the_envelope(api, catalog, url, body, field):
    r = api.post(f"/api/v1/{url}", body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == "validation_error"
    assert field in str(r.json()["error"]), r.json()


def test_rules_are_listed_updated_and_deleted_by_key_and_viewers_only_read(api, viewer_api, catalog):
    assert api.post("/api/v1/suppression-rules", {"key": "s", "name": "S", "offer": "offer-1"},
                    format="json").json()["outcomes"] == ["accept", "decline"]
    assert api.post("/api/v1/contact-policies", {"key": "p", "name": "P", "maxImpressions": 2},
                    format="json").status_code == 201
    assert [r["key"] for r in viewer_api.get("/api/v1/suppression-rules").json()["results"]] == ["s"]
    assert viewer_api.post("/api/v1/contact-policies", {"key": "q", "name": "Q", "maxImpressions": 2},
                           format="json").status_code == 403
    r = api.patch("/api/v1/contact-policies/p", {"maxImpressions": 5, "active": False}, format="json")
    assert r.status_code == 200 and r.json()["maxImpressions"] == 5
    assert ContactPolicy.objects.get(key="p").active is False
    r = api.patch("/api/v1/suppression-rules/s", {"days": 0}, format="json")
    assert r.status_code == 400
    assert api.delete("/api/v1/suppression-rules/s").status_code == 204
    assert not SuppressionRule.objects.exists()


def test_respond_with_a_creative_learns_for_its_offer(api, champion):
    r = api.post("/api/v1/creatives", {"key": "banner-1", "name": "Banner", "offer": "offer-2",
                                       "channel": "web"}, format="json")
    assert r.status_code == 201, r.content
    r = api.post("/api/v1/respond", {"customerId": "c1", "creativeId": "banner-1", "outcome": "click",
                                     "idempotencyKey": "cr-1"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["offerId"] == "offer-2" and r.json()["learned"] is True
    assert ModelAdaptation.objects.get(model=champion, scope="offer", scope_id="offer-2").evidence == 1


def test_an_unknown_or_contradicting_creative_is_refused(api, champion):
    api.post("/api/v1/creatives", {"key": "banner-1", "name": "Banner", "offer": "offer-2"}, format="json")
    r = api.post("/api/v1/respond", {"customerId": "c1", "creativeId": "nope", "outcome": "click",
                                     "idempotencyKey": "cr-2"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "creativeId"
    r = api.post("/api/v1/respond", {"customerId": "c1", "creativeId": "banner-1", "offerId": "offer-1",
                                     "outcome": "click", "idempotencyKey": "cr-3"}, format="json")
    assert r.status_code == 400 and "offer-2" in r.json()["error"]["message"]
    assert not ModelAdaptation.objects.filter(scope="offer").exists()


def test_an_older_trace_without_stages_still_reads(api, champion):
    rec = recommend(api)
    DecisionTrace.objects.update(pipeline=[], suppression_results=[], contact_policy_results=[],
                                 funnel={"candidateCount": 4, "afterQualification": 4, "finalCount": 4})
    assert [s["stage"] for s in trace_of(api, rec)["pipeline"]] == ["candidates", "qualification", "ranking"]


def test_the_catalog_page_creates_a_rule_and_keeps_the_input_on_refusal(as_analyst, catalog):
    url = reverse("scoring:catalog-create", args=["suppression-rules"])
    refused = as_analyst.post(url, {"key": "cards-rest", "name": "Cards rest", "category": catalog[1].category.pk,
                                    "outcomes": "decline, nope", "days": "7"})
    assert refused.status_code == 200
    page = unescape(refused.content.decode())
    assert "Unknown outcome types: nope" in page and 'value="decline, nope"' in page and 'value="cards-rest"' in page
    assert not SuppressionRule.objects.exists()
    done = as_analyst.post(url, {"key": "cards-rest", "name": "Cards rest", "category": catalog[1].category.pk,
                                 "outcomes": "decline", "days": "7", "active": "on"})
    assert done.status_code == 302
    rule = SuppressionRule.objects.get(key="cards-rest")
    assert rule.outcomes == ["decline"] and rule.category.key == "cards" and rule.days == 7
    listing = unescape(as_analyst.get(reverse("scoring:catalog")).content.decode())
    assert "category cards" in listing and "Contact policies" in listing and "Creatives" in listing


def test_the_catalog_page_refuses_a_window_longer_than_retention(as_analyst, catalog, settings):
    settings.IMPRESSION_RETENTION_DAYS = 7
    r = as_analyst.post(reverse("scoring:catalog-create", args=["contact-policies"]),
                        {"key": "p", "name": "P", "max_impressions": "3", "window_hours": "500"})
    assert r.status_code == 200 and "1..168 hours" in unescape(r.content.decode())
    assert not ContactPolicy.objects.exists()


def test_the_page_and_the_api_bound_a_contact_policy_s_cap_with_the_same_sentence(as_analyst, api, catalog):
    sentence = "At most impressions must be 0..1000 (0 shows this channel nothing)"
    page = as_analyst.post(reverse("scoring:catalog-create", args=["contact-policies"]),
                           {"key": "p", "name": "P", "max_impressions": "5000", "window_hours": "24"})
    assert page.status_code == 200 and sentence in unescape(page.content.decode())
    r = api.post("/api/v1/contact-policies", {"key": "p", "name": "P", "maxImpressions": 5000}, format="json")
    assert r.status_code == 400
    assert not ContactPolicy.objects.exists()


def test_a_creative_must_match_the_offer_at_the_recommendation_s_rank(api, champion):
    api.post("/api/v1/creatives", {"key": "banner-2", "name": "Banner", "offer": "offer-2"}, format="json")
    rec = recommend(api, limit=4)
    rank_of = {o["offerId"]: o["rank"] for o in rec["offers"]}
    body = {"customerId": "c1", "recommendationId": rec["recommendationId"], "creativeId": "banner-2",
            "outcome": "click"}
    other = next(r for k, r in rank_of.items() if k != "offer-2")
    r = api.post("/api/v1/respond", {**body, "rank": other, "idempotencyKey": "cr-4"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "creativeId"
    r = api.post("/api/v1/respond", {**body, "rank": rank_of["offer-2"], "idempotencyKey": "cr-5"}, format="json")
    assert r.status_code == 201 and r.json()["offerId"] == "offer-2"
    r = api.post("/api/v1/respond", {**body, "idempotencyKey": "cr-6"}, format="json")  # no rank: the creative says
    assert r.status_code == 201 and r.json()["offerId"] == "offer-2"
