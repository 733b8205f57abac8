"""Scoring's pages through Django's test client: the numbers and warnings a person sees, and every refusal in place."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from lifecycle.models import AlgorithmModel, ModelEvent, Sample
from lifecycle.schedules import cadence_schedule_name
from scoring import services
from scoring.models import Category, Channel, DecisionTrace, Offer
from tests.factories import make_model, ready_model
from tests.scoring.conftest import live_model, make_catalog

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
VIEWER_OPERATE = ("Your role (viewer) cannot change a model's learning cadence or outcome weights; analysts and admins "
                  "can.")


def text(response) -> str:
    """The words on the page, as a reader sees them: no tags, entities decoded, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style|datalist)\b.*?</\1>", " ", html, flags=re.S)
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    return re.sub(r" ([.,;:)])(?=\s|$)", r"\1", words)


def section(response, element_id: str) -> str:
    """The words of one element (by id) of the page, up to the next sibling block of the same kind."""
    html = response.content.decode()
    start = html.index(f'id="{element_id}"')
    tag_start = html.rfind("<", 0, start)
    tag = re.match(r"<(\w+)", html[tag_start:]).group(1)
    depth, i = 0, tag_start
    for m in re.finditer(rf"<(/?){tag}\b[^>]*>", html[tag_start:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            i = tag_start + m.end()
            break
    return text(type("R", (), {"content": html[tag_start:i].encode()})())


def row_text(response, key: str) -> str:
    """The words of the weights editor's row for one outcome key."""
    html = response.content.decode()
    rows = re.findall(r'<tr class="weight-row[^"]*">.*?</tr>', html, flags=re.S)
    for r in rows:
        if f'<code class="outcome-key">{key}</code>' in r:
            return text(type("R", (), {"content": r.encode()})())
    raise AssertionError(f"no row for {key}")


@pytest.fixture
def nbo(admin_user):
    make_catalog()
    return live_model(admin_user, key="nbo", model_type="bayesian")


def weights_url(model) -> str:
    return reverse("scoring:model-weights", args=[model.key])


def cadence_url(model) -> str:
    return reverse("lifecycle:model-cadence", args=[model.key])


def try_url(model) -> str:
    return reverse("scoring:model-try", args=[model.key])


# --------------------------------------------------------------------------------------------- access


def test_anonymous_users_are_sent_to_log_in(client, analyst):
    model = make_model(analyst)
    urls = [weights_url(model), cadence_url(model), try_url(model),
            reverse("scoring:model-adaptations", args=[model.key]), reverse("scoring:trace-list"),
            reverse("scoring:catalog"), reverse("scoring:catalog-create", args=["offers"])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    response = client.post(weights_url(model), {"weight__click": "2"})
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.outcome_weights is None


def test_a_viewer_reads_every_page_but_each_write_is_403_with_the_reason(as_viewer, analyst, nbo, capture):
    tabular = ready_model(analyst, capture, key="churn-risk")
    for url in (weights_url(nbo), cadence_url(tabular), reverse("scoring:model-adaptations", args=[nbo.key]),
                reverse("scoring:catalog")):
        page = as_viewer.get(url)
        assert page.status_code == 200, url
        assert "Save" not in text(page) or "Read only" in text(page), url
    page = as_viewer.get(weights_url(nbo))
    assert f"Read only. {VIEWER_OPERATE}" in text(page)
    assert 'name="weight__click"' in page.content.decode() and "disabled" in page.content.decode()
    assert "Save weights" not in text(page)
    assert f"Read only. {VIEWER_OPERATE}" in text(as_viewer.get(cadence_url(tabular)))

    refused = {
        weights_url(nbo): ({"weight__click": "0.3"}, VIEWER_OPERATE),
        cadence_url(tabular): ({"auto_learn": "on", "learn_mode": "scheduled", "learn_schedule": "24h"},
                               VIEWER_OPERATE),
        reverse("scoring:score-feedback", args=[tabular.key, "abc"]): (
            {"trait": "churn", "label": "positive"},
            "Your role (viewer) cannot give feedback on scores (feedback becomes training samples); analysts and "
            "admins can."),
        reverse("scoring:catalog-create", args=["offers"]): (
            {"key": "x", "name": "X"}, "Your role (viewer) cannot add offers to the catalog; analysts and admins can."),
        reverse("scoring:catalog-edit", args=["channels", "email"]): (
            {"name": "E"}, "Your role (viewer) cannot edit channels in the catalog; analysts and admins can."),
    }
    for url, (body, reason) in refused.items():
        response = as_viewer.post(url, body)
        assert response.status_code == 403, url
        assert reason in text(response), url
    nbo.refresh_from_db()
    tabular.refresh_from_db()
    assert nbo.outcome_weights is None and tabular.auto_learn is False
    assert not Offer.objects.filter(key="x").exists() and Channel.objects.get(key="email").name == "Email"


# --------------------------------------------------------------------------------------------- outcome weights


def test_weights_editor_shows_every_outcome_type_with_the_default_and_its_warning(as_analyst, nbo):
    page = as_analyst.get(weights_url(nbo))
    assert page.status_code == 200
    words = text(page)
    assert "Saved: the default (null)" in words
    assert "0 explicit 10 left to the default ⚠ 9 warnings" in words
    assert row_text(page, "click") == ("click Click + positive response Weight for click +1 → a success worth 1 "
                                       "default ⚠ Warning: Left to the default (+1, from its classification).")
    assert "-1 → a failure worth 1 default ⚠ Warning: Left to the default (-1, from its classification)." in \
        row_text(page, "unsubscribed")
    assert ("+0 → recorded, nothing learned default ⚠ Warning: Left to the default: counts 0, so the model learns "
            "nothing from it, and /respond warns “no explicit weight for outcome no_action; using default (+0)”.") in \
        row_text(page, "no_action")
    assert "ℹ Note: Default 0: impressions are neutral by design (no warning)." in row_text(page, "impression")
    assert "Warning" not in row_text(page, "impression")


def test_saving_weights_calls_the_service_and_the_rest_warn_as_missing(as_analyst, nbo):
    response = as_analyst.post(weights_url(nbo), {"weight__click": "0.3", "weight__convert": "1",
                                                  "weight__unsubscribed": "-1.5", "weight__accept": ""})
    assert response.status_code == 302 and response["Location"].endswith("#weights")
    nbo.refresh_from_db()
    assert nbo.outcome_weights == {"click": 0.3, "convert": 1.0, "unsubscribed": -1.5}
    event = ModelEvent.objects.get(model=nbo, action="weights.changed")
    assert event.data == {"before": None, "after": {"click": 0.3, "convert": 1.0, "unsubscribed": -1.5}}

    page = as_analyst.get(response["Location"])
    words = text(page)
    assert "Saved 3 outcome weights: click +0.3, convert +1, unsubscribed -1.5." in words
    assert "3 explicit 7 left to the default ⚠ 6 warnings" in words  # impressions never warn
    assert row_text(page, "click").endswith("+0.3 → a success worth 0.3")  # explicit and in line: no warning
    assert ("+1 → a success worth 1 default ⚠ Warning: Missing from the map: falls back to +1 and /respond warns "
            "“no explicit weight for outcome accept; using default (+1)”.") in row_text(page, "accept")
    # The editor's words are the rule /respond applies.
    from scoring.models import OutcomeType

    assert services.outcome_weight(nbo, OutcomeType.objects.get(key="accept")) == (
        1.0, "no explicit weight for outcome accept; using default (+1)")
    assert 'value="0.3"' in page.content.decode()


def test_a_weight_against_its_classification_warns_in_the_preview_and_after_saving(as_analyst, nbo):
    preview = as_analyst.get(reverse("scoring:model-weights-preview", args=[nbo.key]),
                             {"weight__dismiss": "1", "weight__convert": "-2", "weight__click": "0",
                              "weight__no_action": "0.2"}, **HTMX)
    assert preview.status_code == 200 and "<html" not in preview.content.decode()
    words = text(preview)
    assert "4 explicit 6 left to the default ⚠ 8 warnings Preview of unsaved changes" in words
    assert ("Contradicts its classification: dismiss is negative, yet +1 teaches the model it is a success. Use a "
            "negative number unless you mean to invert it.") in words
    assert "Contradicts its classification: convert is positive, yet -2 teaches the model it is a failure." in words
    assert "Weight 0 on a positive outcome: these responses are recorded but teach nothing." in words
    assert "A neutral outcome weighted +0.2: it teaches as a success." in words
    # Each row's "maps to" cell is swapped in place, by id, beside the summary.
    assert preview.content.decode().count('hx-swap-oob="true"') == 10
    nbo.refresh_from_db()
    assert nbo.outcome_weights is None  # a preview saves nothing

    as_analyst.post(weights_url(nbo), {"weight__dismiss": "1"})
    nbo.refresh_from_db()
    assert nbo.outcome_weights == {"dismiss": 1.0}  # the service allows it; the page says what it means
    saved = as_analyst.get(weights_url(nbo))
    assert "Contradicts its classification: dismiss is negative" in row_text(saved, "dismiss")


def test_weight_refusals_are_shown_in_place_and_nothing_is_saved(as_analyst, nbo):
    bad = as_analyst.post(weights_url(nbo), {"weight__click": "lots", "weight__convert": "1"})
    assert bad.status_code == 200
    assert "Refused: Not saved: fix the rows marked below." in text(bad)
    assert "✗ Error: Write a number such as 1.0 or -1.5, or leave it blank for the default." in row_text(bad, "click")
    assert 'aria-invalid="true"' in bad.content.decode()

    too_big = as_analyst.post(weights_url(nbo), {"weight__click": "5000"}, **HTMX)
    assert too_big.status_code == 200 and "<html" not in too_big.content.decode()  # the editor, in place
    assert "Refused: the weight of 'click' must be between -1000 and 1000" in text(too_big)
    assert 'value="5000' in too_big.content.decode()  # what was typed stays
    nbo.refresh_from_db()
    assert nbo.outcome_weights is None
    assert not ModelEvent.objects.filter(model=nbo, action="weights.changed").exists()


def test_reset_and_an_all_blank_save_go_back_to_the_default(as_analyst, nbo):
    as_analyst.post(weights_url(nbo), {"weight__click": "0.3"})
    response = as_analyst.post(weights_url(nbo), {"reset": "1"}, **HTMX)
    assert response["HX-Trigger"] == "weightsChanged"
    assert ("Outcome weights reset to the default (null): +1 for positive outcomes, -1 for negative ones and 0 (with "
            "a warning) for neutral ones.") in text(response)
    nbo.refresh_from_db()
    assert nbo.outcome_weights is None
    assert "Reset to the default (null)" not in text(response)  # nothing left to reset

    as_analyst.post(weights_url(nbo), {"weight__click": "0.3"})
    as_analyst.post(weights_url(nbo), {"weight__click": ""})
    nbo.refresh_from_db()
    assert nbo.outcome_weights is None
    again = as_analyst.post(weights_url(nbo), {"weight__click": ""}, follow=True)
    assert "Nothing changed: these weights were saved already." in text(again)


def test_a_saved_weight_for_an_unregistered_outcome_is_flagged(as_analyst, nbo, admin_user):
    services.model_set_outcome_weights(model=nbo, actor=admin_user, weights={"purchase": 1.0, "click": 0.5})
    page = as_analyst.get(weights_url(nbo))
    assert ("Not a registered outcome type: /respond refuses the outcome 'purchase', so this weight is never used."
            in row_text(page, "purchase"))
    as_analyst.post(weights_url(nbo), {"weight__purchase": "", "weight__click": "0.5"})
    nbo.refresh_from_db()
    assert nbo.outcome_weights == {"click": 0.5}


# --------------------------------------------------------------------------------------------- cadence


def test_cadence_refuses_a_schedule_it_cannot_read_and_explains_the_accepted_forms(as_analyst, analyst, capture):
    model = ready_model(analyst, capture, key="churn-risk")
    page = as_analyst.get(cadence_url(model))
    words = text(page)
    assert "Not scheduled Nothing is scheduled: autoLearn is off" in words
    assert ("Accepted: a whole number and a unit, m (minutes), h (hours), d (days); at least 15m. For example 6h, "
            "24h, 7d.") in words

    daily = as_analyst.post(cadence_url(model), {"auto_learn": "on", "learn_mode": "scheduled",
                                                 "learn_schedule": "daily"}, **HTMX)
    assert daily.status_code == 200 and "<html" not in daily.content.decode()
    words = text(daily)
    assert "Refused: Not saved: fix the fields marked below." in words
    assert ("learnSchedule 'daily' is not a duration; write a number and a unit: \"30m\", \"6h\", \"24h\" or "
            "\"7d\"") in words
    assert 'value="daily"' in daily.content.decode() and 'aria-invalid="true"' in daily.content.decode()
    model.refresh_from_db()
    assert (model.auto_learn, model.learn_mode, model.learn_schedule) == (False, "none", None)
    assert not Schedule.objects.filter(name=cadence_schedule_name(model.pk)).exists()

    missing = as_analyst.post(cadence_url(model), {"auto_learn": "on", "learn_mode": "scheduled", "learn_schedule": ""})
    assert "learnMode \"scheduled\" needs a learnSchedule such as \"24h\"" in text(missing)
    too_short = as_analyst.post(cadence_url(model), {"auto_learn": "on", "learn_mode": "scheduled",
                                                     "learn_schedule": "5m"})
    assert "learnSchedule must be at least 15m" in text(too_short)


def test_a_24h_cadence_creates_the_schedule_and_shows_the_next_run(as_analyst, analyst, capture):
    model = ready_model(analyst, capture, key="churn-risk")
    before = timezone.now()
    response = as_analyst.post(cadence_url(model), {"auto_learn": "on", "learn_mode": "scheduled",
                                                    "learn_schedule": "24h"})
    assert response.status_code == 302 and response["Location"].endswith("#cadence")
    schedule = Schedule.objects.get(name=cadence_schedule_name(model.pk))
    assert schedule.minutes == 1440
    assert before + timedelta(hours=24) <= schedule.next_run <= timezone.now() + timedelta(hours=24)
    page = as_analyst.get(response["Location"])
    words = text(page)
    due = f"{schedule.next_run:%Y-%m-%d %H:%M}"
    assert f"Saved. Learning on: retrains every 24h; the next run is due {due} UTC." in words
    assert "Scheduled A retrain every 24h when new samples have arrived since the serving version." in words
    assert f"Next scheduled run {due} UTC" in words and "Interval every 24h (1,440 minutes)" in words
    assert ModelEvent.objects.filter(model=model, action="cadence.changed", to_value="every 24h").exists()

    off = as_analyst.post(cadence_url(model), {"learn_mode": "scheduled", "learn_schedule": "24h"}, **HTMX)
    assert off["HX-Trigger"] == "cadenceChanged"
    assert "Saved. Nothing is scheduled: autoLearn is off" in text(off)
    assert not Schedule.objects.filter(name=cadence_schedule_name(model.pk)).exists()


def test_a_continuous_learner_needs_no_schedule(as_analyst, nbo):
    as_analyst.post(cadence_url(nbo), {"auto_learn": "on", "learn_mode": "scheduled", "learn_schedule": "6h"})
    page = text(as_analyst.get(cadence_url(nbo)))
    assert "This model learns from every response as it serves; it needs no schedule and none is kept." in page
    assert "fields below are kept (the API reads them) but schedule nothing" in page
    assert not Schedule.objects.filter(name=cadence_schedule_name(nbo.pk)).exists()


# --------------------------------------------------------------------------------------------- try a score


FEATURES = '{"tenure": 3, "plan": "basic", "spend": 20}'


def test_trying_a_score_shows_the_card_the_service_computes(as_analyst, analyst, capture):
    model = ready_model(analyst, capture, key="churn-risk")
    response = as_analyst.post(try_url(model), {"features": FEATURES, "content": "cancel my account please"})
    assert response.status_code == 200
    expected = services.score(model=model, actor=analyst, inputs=[{"features": {"tenure": 3, "plan": "basic",
                                                                                "spend": 20},
                                                                   "content": "cancel my account please"}]).cards[0]
    words = text(response)
    detail = expected["detail"]["churn"]
    score = expected["scores"]["churn"]
    assert f"Score card {expected['composite']} composite harmonic mean of 1 trait, 0–100" in words
    assert f"Confidence {expected['confidence']}" in words
    assert f"churn confidence {detail['confidence']} · raw probability {detail['native']:.3f} {score}" in words
    if detail["label"]:
        nxt = {"Weak": "Developing", "Developing": "Solid", "Solid": "Strong"}.get(detail["label"])
        tier = (f"{detail['label']}: {detail['headroom']} point{'s' if detail['headroom'] != 1 else ''} below {nxt}."
                if nxt else "Strong: the top tier.")
        assert tier in words
        assert f'aria-label="Score {score} of 100, in the {detail["label"]} tier.' in response.content.decode()
    assert "Version v1" in words
    assert "+ positive − negative" in words  # feedback buttons for an analyst


def test_score_refusals_are_shown_in_place(as_analyst, analyst, capture, nbo):
    model = ready_model(analyst, capture, key="churn-risk")
    bad_json = as_analyst.post(try_url(model), {"features": "{tenure: 3}"}, **HTMX)
    assert "<html" not in bad_json.content.decode()
    assert "Not valid JSON (Expecting property name enclosed in double quotes, line 1 column 2)." in text(bad_json)
    empty = as_analyst.post(try_url(model), {"features": "", "content": "  "})
    assert "Refused: inputs[0]: give features or content" in text(empty)
    continuous = as_analyst.post(try_url(nbo), {"content": "hello"})
    assert "Refused: A bayesian model ranks offers: use POST /api/v1/recommend" in text(continuous)
    draft = make_model(analyst, key="still-draft")
    assert ("Refused: Model still-draft cannot score: it has never been ready; train it first"
            in text(as_analyst.post(try_url(draft), {"content": "hello"})))


def test_feedback_by_request_id_becomes_a_sample_and_viewers_may_only_score(client, analyst, viewer, capture):
    model = ready_model(analyst, capture, key="churn-risk")
    client.force_login(viewer)
    scored = client.post(try_url(model), {"features": FEATURES})
    assert scored.status_code == 200 and "Score card" in text(scored)
    assert "Viewers score only" in text(scored) and "+ positive" not in text(scored)
    assert ("Your role (viewer) cannot give feedback on scores (feedback becomes training samples); analysts and "
            "admins can.") in text(scored)

    client.force_login(analyst)
    scored = client.post(try_url(model), {"features": FEATURES})
    request_id = re.search(r"Request id (\w+)", text(scored)).group(1)
    url = reverse("scoring:score-feedback", args=[model.key, request_id])
    assert f'action="{url}"' in scored.content.decode()
    before = Sample.objects.filter(model=model, source="feedback").count()
    answer = client.post(url, {"trait": "churn", "label": "positive", "row": "1"}, **HTMX)
    sample = Sample.objects.filter(model=model, source="feedback").latest("id")
    assert f"Recorded: churn is positive. Sample #{sample.pk} joins the next retrain." in text(answer)
    assert 'id="feedback-1"' in answer.content.decode()
    assert Sample.objects.filter(model=model, source="feedback").count() == before + 1
    assert sample.labels == {"churn": 1.0} and sample.features["tenure"] == 3

    unknown = client.post(reverse("scoring:score-feedback", args=[model.key, "nope"]),
                          {"trait": "churn", "label": "negative", "row": "1"}, **HTMX)
    assert "Refused: No score request 'nope'" in text(unknown)
    plain = client.post(url, {"trait": "churn", "label": "negative"}, follow=True)
    assert "Feedback recorded: churn is negative" in text(plain)


# --------------------------------------------------------------------------------------------- adaptations


def _respond(admin_user, rec, offer: str, outcomes: list[str], tag: str):
    rank = next(o["rank"] for o in rec.offers if o["offerId"] == offer)
    for i, outcome in enumerate(outcomes):
        services.respond(actor=admin_user, idempotency_key=f"{tag}-{i}", customer_id=rec.customer_id,
                         recommendation_id=rec.recommendation_id, rank=rank, outcome=outcome)


def test_adaptations_show_evidence_against_each_threshold(as_analyst, admin_user, nbo):
    rec = services.recommend(actor=admin_user, customer_id="c1", channel="email", family="offers")
    _respond(admin_user, rec, "offer-1", ["convert"] * 40 + ["dismiss"] * 10, "a")  # 50: trusted at 50
    _respond(admin_user, rec, "offer-2", ["convert"] * 3 + ["dismiss"] * 7, "b")  # 10: not yet
    page = as_analyst.get(reverse("scoring:model-adaptations", args=[nbo.key]))
    assert page.status_code == 200
    words = text(page)
    assert "Offer ≥ 50 responses Channel ≥ 15 responses Direction ≥ 10 responses Category ≥ 20 responses" in words
    offer = section(page, "scope-offer")
    assert "Offer 2 Trusted at 50 responses · 1 of 2 trusted" in offer
    assert "offer-1 updated" in offer and "50 responses, threshold 50 80.0% 40 / 10 ✓ yes" in offer
    assert "offer-2 updated" in offer and "10 of 50 needed · 40 more to trust 30.0% 3 / 7 ○ no" in offer
    assert "60 responses, threshold 15 71.7% 43 / 17 ✓ yes" in section(page, "scope-channel")
    assert "email" in section(page, "scope-channel") and "outbound" in section(page, "scope-direction")
    assert "all responses" in section(page, "scope-global")
    html = page.content.decode()
    assert 'aria-label="10 of 50 responses needed"' in html
    assert 'style="left: 66.67%"' in html  # the threshold mark of a 50-response tier on a 75-wide scale


def test_a_tabular_model_keeps_no_cells(as_analyst, analyst, capture):
    model = ready_model(analyst, capture, key="churn-risk")
    words = text(as_analyst.get(reverse("scoring:model-adaptations", args=[model.key])))
    assert "models learn by retraining on samples (responses become weighted samples), so they keep no scope cells" \
        in words
    assert "No cells yet." in words


# --------------------------------------------------------------------------------------------- decision traces


def test_trace_list_filters_and_paginates_on_the_server(as_analyst, admin_user, nbo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(27):
        services.recommend(actor=admin_user, customer_id=f"c{i:02d}", channel="email", family="offers", limit=2)
    services.recommend(actor=admin_user, customer_id="vip", family="offers", limit=1)
    with CaptureQueriesContext(connection) as one:
        as_analyst.get(reverse("scoring:trace-list"), {"customer": "vip"})
    with CaptureQueriesContext(connection) as page_full:
        page = as_analyst.get(reverse("scoring:trace-list"))
    assert len(page_full.captured_queries) == len(one.captured_queries)  # no query per row
    words = text(page)
    assert "28 traces" in words and "Older" in words and "Newer" not in words
    assert words.count("Why these offers") == 25
    # Older and Newer page by keyset: the links name the row to continue from, not a page number.
    older = re.search(r'href="(/traces/\?after=[^"]+)"[^>]*rel="next"', page.content.decode())
    second = as_analyst.get(older.group(1).replace("&amp;", "&"))
    assert text(second).count("Why these offers") == 3 and "Older" not in text(second)
    assert "28 traces" in text(second)
    newer = re.search(r'href="(/traces/\?before=[^"]+)"[^>]*rel="prev"', second.content.decode())
    back = as_analyst.get(newer.group(1).replace("&amp;", "&"))
    assert re.findall(r"<td><code>(\w+)</code>", back.content.decode()) == \
        re.findall(r"<td><code>(\w+)</code>", page.content.decode())
    assert "Newer" not in text(back)
    # A cursor that is not one (edited by hand, or made for another sort) is the first page, not an error.
    for bad in ("zzz", "eyJ4Ijox", older.group(1).split("after=")[1]):
        odd = as_analyst.get(reverse("scoring:trace-list"), {"after": bad, "sort": "customer"})
        assert odd.status_code == 200 and text(odd).count("Why these offers") == 25

    only = as_analyst.get(reverse("scoring:trace-list"), {"customer": "vip"}, **HTMX)
    assert "<html" not in only.content.decode() and only["HX-Push-Url"] == "/traces/?customer=vip"
    # The "Sort by" select sends the default order with every filter; the address leaves it out.
    default = as_analyst.get(reverse("scoring:trace-list"), {"customer": "vip", "sort": "-created"}, **HTMX)
    assert default["HX-Push-Url"] == "/traces/?customer=vip"
    other = as_analyst.get(reverse("scoring:trace-list"), {"customer": "vip", "sort": "customer"}, **HTMX)
    assert other["HX-Push-Url"] == "/traces/?customer=vip&sort=customer"
    assert "1 trace matches" in text(only) and "vip" in text(only)
    assert "4 → 4 → 1" in text(only)  # candidates, qualified, returned
    assert "0 traces match" in text(as_analyst.get(reverse("scoring:trace-list"), {"model": "someone-else"}))
    assert "28 traces match" in text(as_analyst.get(reverse("scoring:trace-list"), {"model": "nbo"}))
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "0 traces match" in text(as_analyst.get(reverse("scoring:trace-list"), {"since": future}))
    assert "No decision traces match this filter." in text(as_analyst.get(reverse("scoring:trace-list"),
                                                                          {"since": future}))
    bad = as_analyst.get(reverse("scoring:trace-list"), {"since": "yesterday", "customer": "vip"})
    assert "Enter a valid date/time." in text(bad) and "1 trace matches" in text(bad)  # the valid filter still applies


def test_the_trace_page_says_why_each_offer_ranked_where_it_did(as_analyst, admin_user, nbo):
    live_model(admin_user, key="shadow-ts", model_type="thompson_bandit", rung="shadow")
    seed = services.recommend(actor=admin_user, customer_id="seed", channel="email", family="offers")
    _respond(admin_user, seed, "offer-1", ["convert"] * 45 + ["dismiss"] * 5, "a")  # offer tier, 0.9
    _respond(admin_user, seed, "offer-2", ["dismiss"] * 5, "b")  # thin: blended
    rec = services.recommend(actor=admin_user, customer_id="c-42", channel="email", family="offers", limit=3)
    trace = DecisionTrace.objects.get(recommendation=rec)

    by_id = as_analyst.get(reverse("scoring:trace-detail", args=[trace.pk]))
    by_rec = as_analyst.get(reverse("scoring:trace-detail", args=[rec.recommendation_id]))
    assert by_id.status_code == by_rec.status_code == 200 and text(by_id) == text(by_rec)
    words = text(by_id)
    assert "Why these offers for c-42" in words
    assert "Decided by nbo v1 shadows shadow-ts (never decide)" in words
    assert ("4 Candidates active offers in the catalog 4 Qualified offered on channel email 4 Not suppressed no "
            "suppression rule applied 4 Within contact policy no contact policy applies 3 Returned ranked, up to "
            "the answer's limit; 1 dropped") in words

    # The two offers without a response of their own rank first: Bayes-UCB is optimistic about what it has not
    # tried (their bound is high, their estimate the channel's), and says so.
    unseen = [section(by_id, f"candidate-{i}") for i in (1, 2)]
    assert all(re.search(r"#[12] offer-[03] Offer [03], ranked", c) for c in unseen)
    assert all("Bayes-UCB ranks by an optimistic bound" in c and "unseen offer: prior from channel email" in c
               for c in unseen)
    first = section(by_id, "candidate-3")
    assert first.startswith("#3 offer-1 Offer 1, ranked 3rd")
    assert "Ranked 3rd of 4 with a propensity of 0.900" in first
    assert ("Its own evidence decided: the offer's cell has at least 50 responses (the offer threshold), so its own "
            "success rate is its propensity.") in first
    assert "The model's note: “offer cell: 50 responses (threshold 50)" in first
    assert "nbo v1, a Bayesian (Beta-Binomial) model. No experiment routed this call." in first
    # The shadow learned from the same 50 responses (shadows learn from the decisions they scored), and both cell
    # learners answer the seed's estimate of the same cells: they differ in how they rank, not in the estimate.
    assert ("shadow-ts v1 scored 0.900 (offer evidence; 0.000 against the decider) and would rank it 1st by its "
            "estimate") in first

    others = [section(by_id, f"candidate-{i}") for i in range(1, 5)]
    thin = next(c for c in others if "offer-2 Offer 2" in c)
    assert "Its own evidence is thin (1 to 49 responses, below the offer threshold of 50)" in thin
    assert "offer cell has only 5 responses: blended with the channel tier" in thin
    assert sum("so the channel tier answered: the channel's cell has at least 15 responses" in c for c in others) == 2
    assert sum("but left out: the answer had room for 3 offers" in c for c in others) == 1
    glance = section(by_id, "glance-title")
    assert glance == "Candidates at a glance"
    assert "Shadow shadow-ts" in words and "offer evidence" in words and "offer blended" in words


def test_an_unknown_trace_is_404(as_analyst):
    response = as_analyst.get(reverse("scoring:trace-detail", args=["nope"]))
    assert response.status_code == 404 and "No decision trace 'nope'" in text(response)


# --------------------------------------------------------------------------------------------- catalog


def test_catalog_lists_and_creates_and_edits_with_an_audit_row(as_analyst, analyst):
    make_catalog(2)
    page = text(as_analyst.get(reverse("scoring:catalog")))
    assert "Offers 2" in page and "Outcome types 10" in page and "Decision flows 0" in page
    assert "offer-0 Offer 0 loans email, web apr=10 yes" in page
    assert "no_action default No action neutral response" in page

    created = as_analyst.post(reverse("scoring:catalog-create", args=["offers"]), {
        "key": "gold-card", "name": "Gold card", "category": Category.objects.get(key="cards").pk,
        "channels": [Channel.objects.get(key="web").pk], "attributes": '{"apr": 19.9}', "active": "on"})
    assert created.status_code == 302 and created["Location"] == "/catalog/#offers"
    offer = Offer.objects.get(key="gold-card")
    assert (offer.category.key, [c.key for c in offer.channels.all()], offer.attributes) == ("cards", ["web"],
                                                                                            {"apr": 19.9})
    event = ModelEvent.objects.get(action="catalog.created")
    assert (event.to_value, event.data, event.actor_name) == ("gold-card", {"kind": "offer"}, "analyst")
    assert "Created offer gold-card." in text(as_analyst.get(created["Location"]))

    edit_url = reverse("scoring:catalog-edit", args=["offers", "gold-card"])
    form = as_analyst.get(edit_url)
    assert 'value="gold-card"' in form.content.decode() and "disabled" in form.content.decode()
    assert "{&quot;apr&quot;: 19.9}" in form.content.decode()
    as_analyst.post(edit_url, {"key": "renamed", "name": "Gold card plus", "attributes": "", "active": ""})
    offer.refresh_from_db()
    assert (offer.key, offer.name, offer.active, offer.attributes) == ("gold-card", "Gold card plus", False, {})
    assert ModelEvent.objects.filter(action="catalog.updated", to_value="gold-card").exists()

    as_analyst.post(reverse("scoring:catalog-create", args=["flows"]), {
        "key": "homepage", "name": "Homepage", "offers": [offer.pk], "family": "offers"})
    assert "homepage Homepage gold-card champion of offers" in text(as_analyst.get(reverse("scoring:catalog")))


def test_catalog_refusals_are_shown_on_the_form(as_analyst):
    make_catalog(1)
    url = reverse("scoring:catalog-create", args=["offers"])
    bad = as_analyst.post(url, {"key": "offer-0", "name": "", "attributes": "[1, 2]"})
    assert bad.status_code == 200
    words = text(bad)
    assert "Offer with this Key already exists." in words
    assert "This field is required." in words
    assert "Give a JSON object such as {\"apr\": 12.9}, not a list." in words
    assert "not a slug" not in words
    assert "key must be 1-64 lowercase letters, digits" in text(as_analyst.post(
        reverse("scoring:catalog-create", args=["channels"]), {"key": "e mail", "name": "E", "direction": "outbound"}))
    assert as_analyst.get(reverse("scoring:catalog-create", args=["nothing"])).status_code == 404
    assert as_analyst.get(reverse("scoring:catalog-edit", args=["offers", "nope"])).status_code == 404
    assert not ModelEvent.objects.filter(action__startswith="catalog.").exists()


def test_the_model_pages_link_to_each_other(as_analyst, nbo):
    html = as_analyst.get(weights_url(nbo)).content.decode()
    for name in ("scoring:model-weights", "lifecycle:model-cadence", "scoring:model-try", "scoring:model-adaptations"):
        assert f'href="{reverse(name, args=[nbo.key])}"' in html
    assert 'aria-current="page">Outcome weights' in html
    assert AlgorithmModel.objects.filter(key="nbo").exists()


def test_every_control_on_the_scoring_pages_has_a_label(as_analyst, analyst, admin_user, nbo, capture):
    tabular = ready_model(analyst, capture, key="churn-risk")
    rec = services.recommend(actor=admin_user, customer_id="c1", family="offers")
    pages = [as_analyst.get(weights_url(nbo)), as_analyst.get(cadence_url(tabular)),
             as_analyst.post(try_url(tabular), {"features": FEATURES}),
             as_analyst.get(reverse("scoring:trace-list")),
             as_analyst.get(reverse("scoring:trace-detail", args=[rec.recommendation_id])),
             *[as_analyst.get(reverse("scoring:catalog-create", args=[kind])) for kind in
               ("offers", "categories", "channels", "outcome-types", "flows")]]
    for page in pages:
        html = page.content.decode()
        labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
        for control in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if re.search(r'type="(hidden|submit)"', control):
                continue
            ident = re.search(r'\bid="([^"]+)"', control)
            assert "aria-label=" in control or (ident and ident.group(1) in labelled), control
        for button in re.findall(r"<button\b[^>]*>(.*?)</button>", html, flags=re.S):
            assert re.sub(r"<[^>]+>", "", button).strip(), "a button without words"


def test_trace_list_sorts_on_the_server_and_keeps_the_filter(as_analyst, admin_user, nbo):
    for customer in ("carol", "alice", "bob"):
        services.recommend(actor=admin_user, customer_id=customer, channel="email", family="offers", limit=1)
    services.recommend(actor=admin_user, customer_id="zed", family="offers", limit=1)
    DecisionTrace.objects.filter(customer_id="bob").update(total_duration_ms=999)

    def customers(params):
        html = as_analyst.get(reverse("scoring:trace-list"), params).content.decode()
        return re.findall(r"<td><code>([a-z]+)</code>", html), html

    assert customers({"sort": "customer"})[0] == ["alice", "bob", "carol", "zed"]
    assert customers({"sort": "-customer"})[0] == ["zed", "carol", "bob", "alice"]
    assert customers({"sort": "-took"})[0][0] == "bob"
    assert customers({"sort": "created"})[0] == ["carol", "alice", "bob", "zed"]
    assert customers({"sort": "drop table"})[0] == ["zed", "bob", "alice", "carol"]  # unknown: newest first
    rows, html = customers({"sort": "customer", "offer": "", "model": "nbo"})
    assert rows == ["alice", "bob", "carol", "zed"] and 'aria-sort="ascending"' in html
    # The headers' links keep the filter and reverse the sort in force.
    assert 'href="/traces/?sort=-customer&amp;model=nbo"' in html


def test_trace_list_pages_by_keyset_in_every_sort_and_with_ties(as_analyst, admin_user, nbo):
    for i in range(30):
        services.recommend(actor=admin_user, customer_id=f"c{i % 7}", channel="email", family="offers", limit=1)
    DecisionTrace.objects.update(total_duration_ms=5)  # every row ties on "Took": the key breaks the tie
    DecisionTrace.objects.filter(pk__in=list(DecisionTrace.objects.values_list("pk", flat=True)[:10])).update(
        created_at=timezone.now())  # and ten on "When"
    for sort in ("-created", "created", "customer", "-customer", "took", "-took"):
        seen, path, pages = [], reverse("scoring:trace-list") + f"?sort={sort}", 0
        while path and pages < 5:
            html = as_analyst.get(path).content.decode()
            seen += re.findall(r'href="/traces/(\d+)/"', html)
            found = re.search(r'href="([^"]+)"[^>]*rel="next"', html)
            path, pages = (found.group(1).replace("&amp;", "&") if found else ""), pages + 1
        assert pages == 2 and len(seen) == 30 and len(set(seen)) == 30, sort  # every trace once, none twice


def test_a_risk_trait_names_its_tiers_as_risks(as_analyst, analyst, capture):
    from lifecycle.choices import TIER_WORDS, TraitDirection
    from lifecycle.models import Trait

    model = ready_model(analyst, capture, key="churn-risk")
    Trait.objects.filter(model=model, key="churn").update(direction=TraitDirection.HIGHER_IS_BAD)
    response = as_analyst.post(try_url(model), {"features": FEATURES, "content": "cancel my account please"})
    words = text(response)
    expected = services.score(model=model, actor=analyst, inputs=[{"features": {"tenure": 3, "plan": "basic",
                                                                                "spend": 20},
                                                                   "content": "cancel my account please"}]).cards[0]
    label = expected["detail"]["churn"]["label"]
    assert label, "the factory's model places breaks"
    risk = TIER_WORDS[TraitDirection.HIGHER_IS_BAD]
    assert f"in the {risk[label]} tier." in response.content.decode()
    if label == "Strong":
        assert "Very high risk: the top tier (for this trait a higher score is worse)." in words
    else:
        assert f"{risk[label]}: " in words and "below" in words
    assert "Strong: the top tier." not in words
    assert "Low risk 0–" in words  # the scale under the bar speaks of risk too
