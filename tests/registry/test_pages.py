"""The registry's pages through Django's test client: the path to live, reviews, families and the audit log."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from lifecycle.models import AlgorithmModel, ModelEvent
from registry import experiments
from registry import services as rs
from registry.models import ExperimentArm, PromotionRequest
from tests.factories import make_model, make_user, ready_model, train_now

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
FAMILY = "credit_propensity"


def text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    return re.sub(r" ([.,;:])(?=\s|$)", r"\1", words)  # a link before punctuation leaves no gap


def buttons(response) -> list[str]:
    html = response.content.decode()
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", b)).split())
            for b in re.findall(r"<button\b[^>]*>(.*?)</button>", html, flags=re.S)]


def disabled_buttons(response) -> list[str]:
    html = response.content.decode()
    found = re.findall(r"<button\b[^>]*\sdisabled(?=[\s>])[^>]*>(.*?)</button>", html, flags=re.S)
    return [" ".join(unescape(b).split()) for b in found]


def post_forms(response) -> list[str]:
    return re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', response.content.decode())


def detail_url(model) -> str:
    return reverse("lifecycle:model-detail", args=[model.key])


def live(model, actor):
    rs.model_set_status(model=model, actor=actor, status="active")
    model.refresh_from_db()
    return model


@pytest.fixture
def family(analyst, admin_user, capture):
    """A family with a champion (applied by an admin, AUC 0.80) and a challenger that may ask to replace it."""
    old = live(ready_model(analyst, capture, key="gbm-v7"), analyst)
    new = live(ready_model(analyst, capture, key="bayes-v3"), analyst)
    rs.model_promote(model=old, actor=analyst, to_status="challenger", family=FAMILY)
    rs.model_promote(model=old, actor=admin_user, to_status="champion", family=FAMILY, metrics_snapshot={"auc": 0.80})
    rs.model_promote(model=new, actor=analyst, to_status="challenger", family=FAMILY)
    old.refresh_from_db()
    new.refresh_from_db()
    return old, new


def request_champion(client, model, **extra):
    body = {"to_status": "champion", "family": FAMILY, "auc": "0.81", "comment": "wins the A/B", **extra}
    return client.post(reverse("registry:model-promote", args=[model.key]), body, follow=True)


# --------------------------------------------------------------------------------------------- access


def test_anonymous_users_are_sent_to_log_in(client, family):
    _, new = family
    req = rs.model_promote(model=new, actor=new.created_by, to_status="champion", family=FAMILY).request
    for url in (reverse("registry:review-queue"), reverse("registry:request-detail", args=[req.pk]),
                reverse("registry:family-list"), reverse("registry:family-detail", args=[FAMILY]),
                reverse("registry:audit-log"), reverse("registry:audit-export"), reverse("registry:review-count")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    for url in (reverse("registry:request-approve", args=[req.pk]), reverse("registry:model-promote", args=[new.key]),
                reverse("registry:family-rollback", args=[FAMILY])):
        response = client.post(url, {"comment": "x", "to_status": "shadow"})
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    req.refresh_from_db()
    assert req.state == "pending"


def test_a_viewer_sees_no_write_controls_on_registry_pages(client, viewer, family, analyst):
    _, new = family
    rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY)
    client.force_login(viewer)
    for url in (reverse("registry:review-queue"), reverse("registry:family-detail", args=[FAMILY]),
                reverse("registry:family-list"), reverse("registry:audit-log"), detail_url(new)):
        response = client.get(url)
        assert response.status_code == 200, url
        assert post_forms(response) == [reverse("logout")], url
        assert buttons(response) in (["Menu", "Log out"], ["Menu", "Log out", "Filter"],
                                     ["Menu", "Log out", "Compare the ticked versions"]), url  # comparing is reading
        # Nothing to write with; sorting a list is reading.
        assert not re.search(r'<textarea\b|<select\b(?![^>]*\bname="sort")', response.content.decode()), url
    page = text(client.get(detail_url(new)))
    assert "Your role (viewer) can follow this model's path to live but not change it" in page
    assert "Legal next moves from challenger: champion, shadow, archived, draft." in page
    assert "approving and rejecting needs the reviewer role" in text(client.get(reverse("registry:review-queue")))


def test_a_viewer_post_is_403_with_the_reason(client, viewer, family, analyst):
    old, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY).request
    client.force_login(viewer)
    refused = {
        reverse("registry:model-status", args=[new.key]): "cannot change a model's status, learning cadence or "
                                                           "outcome weights; analysts and admins can.",
        reverse("lifecycle:model-cadence", args=[new.key]): "cannot change a model's learning cadence or outcome "
                                                             "weights; analysts and admins can.",
        reverse("scoring:model-weights", args=[new.key]): "cannot change a model's learning cadence or outcome "
                                                          "weights; analysts and admins can.",
        reverse("registry:model-promote", args=[new.key]): "cannot move models on the registry ladder; analysts and "
                                                            "admins can.",
        reverse("registry:request-approve", args=[req.pk]): "cannot approve or reject promotion requests; reviewers "
                                                             "and admins can.",
        reverse("registry:request-reject", args=[req.pk]): "cannot approve or reject promotion requests",
        reverse("registry:family-rollback", args=[FAMILY]): "cannot roll a family back or change its live-watch "
                                                            "policy; reviewers and admins can.",
        reverse("registry:family-policy", args=[FAMILY]): "cannot roll a family back",
    }
    for url, reason in refused.items():
        response = client.post(url, {"status": "paused", "to_status": "shadow", "comment": "x"})
        assert response.status_code == 403, url
        assert f"Your role (viewer) {reason}" in text(response), url
    cancel = client.post(reverse("registry:request-cancel", args=[req.pk]), follow=True)
    assert "Refused: Only the author of a request (or an admin) can cancel it" in text(cancel)
    req.refresh_from_db()
    new.refresh_from_db()
    assert req.state == "pending" and new.status == "active" and new.registry_status == "challenger"


# --------------------------------------------------------------------------------------------- path to live


def test_a_new_model_shows_every_step_to_do_with_the_button_that_does_it(client, analyst):
    model = make_model(analyst, key="support-tone", traits=("polite",))
    client.force_login(analyst)
    response = client.get(detail_url(model))
    page = text(response)
    assert "Path to live 0 of 5 done" in page
    assert "Trained Never trained Missing: Train it: the first successful run makes the model scorable." in page
    assert "Active Operational status is draft Missing: Activate it: recommend ignores a draft-status model" in page
    assert "Promoted Not on the ladder (draft)" in page
    assert "Learning Off Missing: Turn on scheduled retraining" in page
    assert "Outcome weights Default: +1 for positive outcomes, -1 for negative ones" in page
    assert "Warning: Outcomes not classified positive or negative count as neutral" in page
    # Only the ladder's legal moves from draft, each refused for the reason that applies now.
    assert "Move to shadow" in buttons(response) and "Move to challenger" in buttons(response)
    assert "Archive on the ladder" in buttons(response)
    assert not any("champion" in b.lower() for b in buttons(response))
    # Train waits for labelled samples, and says so; the ladder's moves wait for activation.
    assert set(disabled_buttons(response)) == {"Move to shadow", "Move to challenger", "Train", "Train now"}
    assert "Not enough labelled samples to train" in page
    assert ("Move to shadow, Move to challenger are unavailable: Activate it first: promote refuses a model whose "
            "operational status is draft.") in page
    assert {"Train now", "Activate", "Save cadence", "Save weights"} <= set(buttons(response))


def test_activating_and_moving_up_the_ladder(client, analyst, capture):
    model = ready_model(analyst, capture, key="gbm-v7")
    client.force_login(analyst)
    before = client.get(detail_url(model))
    assert "Move to shadow, Move to challenger are unavailable: Activate it first" in text(before)

    page = text(client.post(reverse("registry:model-status", args=[model.key]), {"status": "active"}, follow=True))
    assert "Active: recommend considers this model and it can move up the ladder." in page
    assert "Path to live 2 of 5 done" in page

    response = client.post(reverse("registry:model-promote", args=[model.key]),
                           {"to_status": "shadow", "auc": "0.78"}, follow=True)
    assert response.redirect_chain[-1][0].endswith("#live")
    page = text(response)
    assert "Moved to shadow." in page
    assert "Promoted Shadow: scores silently, never decides" in page and "under way" in page
    offered = set(buttons(response))
    assert {"Move to challenger", "Request champion", "Archive on the ladder", "Back to draft"} <= offered
    assert "Move to shadow" not in buttons(response)
    model.refresh_from_db()
    assert model.registry_status == "shadow" and model.metrics_snapshot == {"auc": 0.78}

    refused = text(client.post(reverse("registry:model-promote", args=[model.key]), {"to_status": "champion"},
                               follow=True))
    assert "Refused: A champion belongs to a family; give family" in refused

    paused = text(client.post(reverse("registry:model-status", args=[model.key]), {"status": "paused"}, follow=True))
    assert "Paused: recommend skips this model until you resume it." in paused and "Resume" in paused


def test_the_guard_verdict_is_shown_before_a_champion_request(client, analyst, family):
    _, new = family
    client.force_login(analyst)
    page = text(client.get(detail_url(new)))
    assert "Guard, if you ask for champion now: passes" in page
    assert "Compared with gbm-v7, champion of credit_propensity (stored AUC 0.8)." in page
    url = reverse("registry:model-guard", args=[new.key])
    refuse = text(client.get(url, {"family": FAMILY, "auc": "0.75"}, **HTMX))
    assert "would refuse AUC falls 6.3%" in refuse
    assert "AUC falls 6.3% (from 0.8 to 0.75); at most 5.0% is allowed" in refuse
    passes = text(client.get(url, {"family": FAMILY, "auc": "0.762", "error_rate": "0.01"}, **HTMX))
    assert "passes" in passes and "AUC falls 4.8%" in passes and "Error rate 1.0%" in passes
    skipped = text(client.get(url, {"family": FAMILY, "auc": ""}, **HTMX))
    assert "not run The request carries no metricsSnapshot.auc." in skipped
    first = text(client.get(url, {"family": "brand_new", "auc": "0.9"}, **HTMX))
    assert "brand_new has no champion yet: this model would be its first." in first


def test_an_analysts_champion_request_shows_as_pending(client, analyst, reviewer, family):
    old, new = family
    client.force_login(analyst)
    response = request_champion(client, new)
    page = text(response)
    req = PromotionRequest.objects.get(model=new)
    assert (f"Requested: bayes-v3 for champion of {FAMILY} is now pending as request #{req.pk}. A reviewer must "
            f"approve it before it serves as champion. Open request #{req.pk}") in page
    assert f'href="{reverse("registry:request-detail", args=[req.pk])}"' in response.content.decode()
    assert f"pending Request #{req.pk}: challenger → champion of {FAMILY}, asked by analyst" in page
    assert "Cancel request" in buttons(response)
    assert "Request champion" in disabled_buttons(response)
    assert f"Request champion is unavailable: Request #{req.pk} is already waiting for a reviewer." in page
    new.refresh_from_db()
    assert new.registry_status == "challenger" and req.metrics_snapshot == {"auc": 0.81}
    # The analyst does not review, so the navigation carries no count for them; a reviewer's does.
    assert 'class="nav-count"' not in client.get(reverse("registry:review-queue")).content.decode()
    client.force_login(reviewer)
    nav = client.get(reverse("lifecycle:model-list")).content.decode()
    assert re.search(r'class="nav-count"[^>]*>1<', nav)


def test_the_queue_puts_the_request_beside_the_champion(client, analyst, reviewer, family):
    old, new = family
    rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY,
                     metrics_snapshot={"auc": 0.81, "errorRate": 0.004}, comment="wins the A/B")
    client.force_login(reviewer)
    response = client.get(reverse("registry:review-queue"))
    page = text(response)
    assert "Reviews 1 pending" in page
    assert f"bayes-v3 challenger → champion of {FAMILY}" in page
    assert "Asked by analyst" in page and "wins the A/B" in page
    assert "Candidate Current champion Difference" in page
    assert "Model bayes-v3" in page and "gbm-v7" in page
    assert "Samples 80 80 0" in page
    cand, champ = new.active_version.metrics["churn"], old.active_version.metrics["churn"]
    delta = cand["auc"] - champ["auc"]
    assert f"AUC churn {cand['auc']:.3f} {champ['auc']:.3f} {delta:{'+' if round(delta, 3) else ''}.3f}" in page
    assert f"Log loss churn {cand['logLoss']:.3f} {champ['logLoss']:.3f}" in page
    assert "Metrics snapshot auc 0.81 errorRate 0.004 auc 0.8" in page
    assert "Guard when asked: passes" in page and "Guard now (approval re-runs it): passes" in page
    assert "AUC rises 1.3%" in page and "Error rate 0.4%" in page
    assert {"Approve: make bayes-v3 champion", "Reject"} <= set(buttons(response))
    assert disabled_buttons(response) == []


def test_a_reviewer_approves_from_the_queue_and_sees_the_new_champion(client, analyst, reviewer, family):
    old, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY,
                           metrics_snapshot={"auc": 0.81}).request
    client.force_login(reviewer)
    response = client.post(reverse("registry:request-approve", args=[req.pk]), {"comment": "checked the A/B"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "reviewDecided"
    assert html.lstrip().startswith(f'<article id="request-{req.pk}"') and "<html" not in html
    page = text(response)
    assert f"Approved: bayes-v3 is now champion of {FAMILY}; gbm-v7 is archived." in page
    assert "approved by reviewer" in page and "“checked the A/B”" in page
    assert "Approve" not in " ".join(buttons(response))

    nav = client.get(reverse("registry:review-count"), **HTMX)
    assert "nav-count" not in nav.content.decode() and "Reviews" in text(nav)

    family_page = text(client.get(reverse("registry:family-detail", args=[FAMILY])))
    assert "Champion Bayes V3 bayes-v3" in family_page
    assert "archived previous champion Gbm V7 gbm-v7" in family_page
    assert "Roll back to gbm-v7" in family_page
    queue = text(client.get(reverse("registry:review-queue")))
    assert "Nothing waits for review." in queue
    assert f"#{req.pk} bayes-v3 challenger → champion {FAMILY} approved analyst reviewer" in queue


def test_approving_without_htmx_redirects_with_the_message(client, analyst, reviewer, family):
    _, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY).request
    client.force_login(reviewer)
    detail = reverse("registry:request-detail", args=[req.pk])
    response = client.post(reverse("registry:request-approve", args=[req.pk]), {"next": detail}, follow=True)
    assert response.redirect_chain[-1][0] == detail
    page = text(response)
    assert f"Approved: bayes-v3 is now champion of {FAMILY}; gbm-v7 is archived." in page
    assert "Promotion requested bayes-v3" in page and "Promotion approved bayes-v3" in page
    assert "Registry demoted gbm-v7 champion → archived" in page


def test_reject_needs_a_comment_and_the_author_reads_it(client, analyst, reviewer, family):
    _, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY).request
    client.force_login(reviewer)
    url = reverse("registry:request-reject", args=[req.pk])
    empty = text(client.post(url, {"comment": ""}, **HTMX))
    assert "Refused: Say why you reject the request: the author reads the comment" in empty
    req.refresh_from_db()
    assert req.state == "pending"
    done = text(client.post(url, {"comment": "AUC gain is within noise"}, **HTMX))
    assert "Rejected: bayes-v3 stays challenger; analyst sees your comment." in done
    client.force_login(analyst)
    page = text(client.get(detail_url(new)))
    assert f"Request #{req.pk} for champion was rejected by reviewer" in page and "“AUC gain is within noise”" in page
    assert "Request champion" in buttons(client.get(detail_url(new)))


def test_approving_a_guard_override_needs_a_comment_on_the_page_and_in_the_api(client, analyst, reviewer,
                                                                               family):
    from registry.selectors import GUARD_OVERRIDE_NEEDS_COMMENT
    from tests.conftest import token_client

    _, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY,
                           metrics_snapshot={"auc": 0.70}, bypass_guard=True).request
    client.force_login(reviewer)
    queue = text(client.get(reverse("registry:review-queue")))
    assert "needed to approve or reject: approving overrides the guard" in queue
    url = reverse("registry:request-approve", args=[req.pk])
    assert f"Refused: {GUARD_OVERRIDE_NEEDS_COMMENT}" in text(client.post(url, {"comment": " "}, **HTMX))
    req.refresh_from_db()
    assert req.state == "pending"
    refused = token_client(reviewer).post(f"/api/v1/promotion-requests/{req.pk}/approve", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["message"] == GUARD_OVERRIDE_NEEDS_COMMENT
    done = text(client.post(url, {"comment": "Seasonal dip; the A/B says otherwise."}, **HTMX))
    assert "Approved" in done
    req.refresh_from_db()
    assert req.state == "approved" and req.decision_comment == "Seasonal dip; the A/B says otherwise."


def test_the_requester_gets_the_four_eyes_message(client, family, capture):
    _, new = family
    both = make_user("analyst", username="dual")
    both.groups.add(Group.objects.get(name="reviewer"))
    both = type(both).objects.get(pk=both.pk)
    client.force_login(both)
    request_champion(client, new)
    req = PromotionRequest.objects.get(model=new)
    queue = client.get(reverse("registry:review-queue"))
    assert "Approve: make bayes-v3 champion" in disabled_buttons(queue)
    assert ("Approve is unavailable: You asked for this change; another reviewer must approve it (four eyes)."
            in text(queue))
    response = client.post(reverse("registry:request-approve", args=[req.pk]), {"comment": "mine"}, **HTMX)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert "Refused: You asked for this change; another reviewer must approve it (four eyes)" in text(response)
    req.refresh_from_db()
    new.refresh_from_db()
    assert req.state == "pending" and new.registry_status == "challenger"


def test_a_stale_request_shows_as_stale(client, analyst, reviewer, family, capture):
    _, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY).request
    train_now(new, analyst, capture)  # a retrain swaps in v2 under the request
    client.force_login(reviewer)
    response = client.get(reverse("registry:review-queue"))
    assert "Close as stale" in buttons(response) and "Approve: make bayes-v3 champion" not in buttons(response)
    queue = text(response)
    assert "Stale: the model's active version changed since the request. It can no longer be approved" in queue
    assert "serving v2 now" in queue
    client.force_login(analyst)
    assert ("Stale: the model's active version changed since the request, so it can no longer be approved; cancel it "
            "and ask again.") in text(client.get(detail_url(new)))
    client.force_login(reviewer)
    response = text(client.post(reverse("registry:request-approve", args=[req.pk]), **HTMX))
    assert (f"Closed as stale. Request {req.pk} is stale: the model's active version changed since the request. Ask "
            "for a new review if the move still makes sense.") in response
    req.refresh_from_db()
    assert req.state == "stale"
    queue = text(client.get(reverse("registry:review-queue")))
    assert "Nothing waits for review." in queue
    assert f"#{req.pk} bayes-v3 challenger → champion {FAMILY} stale" in queue
    client.force_login(analyst)
    assert f"Request #{req.pk} for champion was stale" in text(client.get(detail_url(new)))


def test_the_author_cancels_a_request_from_the_model_page(client, analyst, family):
    _, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY).request
    client.force_login(analyst)
    response = client.post(reverse("registry:request-cancel", args=[req.pk]), {"next": detail_url(new) + "#live"},
                           follow=True)
    assert response.redirect_chain[-1][0] == detail_url(new) + "#live"
    assert f"Cancelled request #{req.pk}." in text(response)
    req.refresh_from_db()
    assert req.state == "cancelled"


def test_an_admin_applies_champion_without_review(client, admin_user, family):
    old, new = family
    client.force_login(admin_user)
    response = request_champion(client, new)
    assert "Make champion" not in buttons(response)
    assert f"Moved to champion in family {FAMILY}; gbm-v7 was champion and is now archived." in text(response)
    assert not PromotionRequest.objects.exists()


def test_a_guard_refusal_is_shown_on_the_model_page(client, analyst, family):
    _, new = family
    client.force_login(analyst)
    page = text(request_champion(client, new, auc="0.70"))
    assert "Refused: The promotion guard refused: AUC falls 12.5% (from 0.8 to 0.7)" in page
    assert not PromotionRequest.objects.exists()
    bypass = text(request_champion(client, new, auc="0.70", bypass_guard="on"))
    assert "is now pending as request" in bypass
    assert PromotionRequest.objects.get().bypass_guard


# --------------------------------------------------------------------------------------------- cadence, weights


def test_cadence_form_sets_scheduled_learning(client, analyst, capture):
    model = ready_model(analyst, capture)
    client.force_login(analyst)
    url = reverse("lifecycle:model-cadence", args=[model.key])  # the cadence's one endpoint, back to the panel
    back = {"next": detail_url(model) + "#live"}
    response = client.post(url, {"auto_learn": "on", "learn_mode": "scheduled", "learn_schedule": "24h", **back},
                           follow=True)
    assert response.redirect_chain[-1][0].endswith("#live")
    page = text(response)
    assert "Saved. Learning on: retrains every 24h; the next run is due" in page
    assert "Learning Retrains every 24h on new samples" in page
    model.refresh_from_db()
    assert (model.auto_learn, model.learn_mode, model.learn_schedule) == (True, "scheduled", "24h")
    bad = text(client.post(url, {"auto_learn": "on", "learn_mode": "scheduled", "learn_schedule": "2x", **back},
                           follow=True))
    assert "Refused: learnSchedule '2x' is not a duration" in bad
    off = text(client.post(url, {"learn_mode": "none", "learn_schedule": "", **back}, follow=True))
    assert "Saved. Nothing is scheduled: autoLearn is off" in off
    model.refresh_from_db()
    assert model.auto_learn is False


def test_continuous_learners_need_no_cadence(client, analyst):
    model = make_model(analyst, key="next-best-offer", model_type="thompson_bandit", traits=())
    client.force_login(analyst)
    response = client.get(detail_url(model))
    assert "Learning Always on: learns from every response" in text(response)
    assert "Save cadence" not in buttons(response)


def test_outcome_weights_form(client, analyst, capture):
    model = ready_model(analyst, capture)
    client.force_login(analyst)
    url = reverse("scoring:model-weights", args=[model.key])  # the weights' one endpoint, back to the panel
    # One editor: the path to live's weights step has the weights page's typed rows, not a list of free keys.
    step, editor = client.get(detail_url(model)).content.decode(), client.get(url).content.decode()
    for html in (step, editor):
        assert html.count('class="weight-row"') == 10 and 'class="table weights-editor"' in html
        assert "+ positive" in html and 'type="number"' in html
    assert 'class="table compact weights-table"' not in step
    back = {"next": detail_url(model) + "#live"}
    page = text(client.post(url, {"weight__convert": "1", "weight__click": "0.3", "weight__unsubscribed": "-1.5",
                                  "weight__accept": "", **back}, follow=True))
    assert "Saved 3 outcome weights: click +0.3, convert +1, unsubscribed -1.5." in page
    assert "Outcome weights convert +1, click +0.3, unsubscribed -1.5" in page  # strongest first
    assert "count as neutral" not in page
    model.refresh_from_db()
    assert model.outcome_weights == {"convert": 1.0, "click": 0.3, "unsubscribed": -1.5}
    assert ModelEvent.objects.filter(model=model, action="weights.changed").exists()

    bad = text(client.post(url, {"weight__convert": "lots", **back}, follow=True))
    assert "Refused: Not saved: Weight for convert: Write a number such as 1.0 or -1.5" in bad
    too_big = text(client.post(url, {"weight__click": "5000", **back}, follow=True))
    assert "Refused: the weight of 'click' must be between -1000 and 1000" in too_big

    reset = text(client.post(url, {"reset": "1", **back}, follow=True))
    assert "Outcome weights reset to the default" in reset and "count as neutral" in reset
    model.refresh_from_db()
    assert model.outcome_weights is None


def test_a_champion_with_everything_set_is_five_of_five(client, admin_user, analyst, capture):
    model = live(ready_model(analyst, capture), analyst)
    rs.model_promote(model=model, actor=analyst, to_status="challenger", family=FAMILY)
    rs.model_promote(model=model, actor=admin_user, to_status="champion", family=FAMILY)
    client.force_login(analyst)
    client.post(reverse("lifecycle:model-cadence", args=[model.key]),
                {"auto_learn": "on", "learn_mode": "scheduled", "learn_schedule": "6h"})
    page = text(client.post(reverse("scoring:model-weights", args=[model.key]),
                            {"weight__convert": "1", "next": detail_url(model) + "#live"}, follow=True))
    assert "Path to live 5 of 5 done" in page and f"Promoted Champion of {FAMILY}" in page


# --------------------------------------------------------------------------------------------- families


def test_family_page_shows_the_line_up_watch_experiments_and_history(client, reviewer, analyst, admin_user, family,
                                                                     capture):
    old, new = family
    shadow = live(ready_model(analyst, capture, key="logit-v1"), analyst)
    rs.model_promote(model=shadow, actor=analyst, to_status="shadow", family=FAMILY,
                     metrics_snapshot={"offline_auc": 0.78})
    e = experiments.experiment_create(actor=analyst, key="credit-ab", name="Credit A/B", status="active",
                                      family=FAMILY, champion_model_id=old.pk, champion_pct=80,
                                      challengers=[{"modelId": new.pk, "trafficPct": 20}], holdout_pct=5)
    ExperimentArm.objects.filter(experiment=e, arm="__champion__").update(trials=4000, successes=480)
    ExperimentArm.objects.filter(experiment=e, arm="bayes-v3").update(trials=1000, successes=150)
    results = {a["arm"]: a for a in experiments.experiment_results(e)["arms"]}
    challenger = results["bayes-v3"]

    client.force_login(reviewer)
    page = text(client.get(reverse("registry:family-detail", args=[FAMILY])))
    assert f"{FAMILY} live watch: first champion" in page
    assert "3 models 1 challenger 1 shadow 0 archived" in page
    assert "Champion Gbm V7 gbm-v7" in page and "Metrics snapshot auc 0.8" in page
    assert f"None: {FAMILY} has had one champion at most." in page
    assert "Roll back is unavailable: There is no previous champion to roll back to." in page
    assert "challenger Bayes V3 bayes-v3" in page and "shadow Logit V1 logit-v1" in page and "offline_auc 0.78" in page
    assert "The family’s first champion: there is no predecessor to compare with." in page
    assert "Credit A/B credit-ab active" in page
    assert "Champion 80% · bayes-v3 20%" in page and "holdout 5% first" in page
    assert "Champion gbm-v7 80% 4,000 480 12.00%" in page
    lo, hi = challenger["wilson95"]
    assert (f"bayes-v3 bayes-v3 20% 1,000 150 15.00% {lo * 100:.1f}% – {hi * 100:.1f}% "
            f"{challenger['upliftAbsolute']:+.4f} ({challenger['upliftRelative'] * 100:+.1f}%) "
            f"{challenger['pValue']:.4f} significant") in page
    assert "Registry moved gbm-v7 challenger → champion" in page and "by admin" in page

    index = text(client.get(reverse("registry:family-list")))
    assert f"{FAMILY} gbm-v7 v1 1 1 0 first champion 0" in index


def test_a_reviewer_rolls_a_family_back_and_sets_the_policy(client, reviewer, admin_user, family):
    old, new = family
    rs.model_promote(model=new, actor=admin_user, to_status="champion", family=FAMILY)
    client.force_login(reviewer)
    page = text(client.get(reverse("registry:family-detail", args=[FAMILY])))
    assert "Champion Bayes V3 bayes-v3" in page and "Previous champion gbm-v7 archived" in page
    response = client.post(reverse("registry:family-rollback", args=[FAMILY]), {"reason": "conversion fell"},
                           follow=True)
    page = text(response)
    assert f"Rolled back: gbm-v7 is champion of {FAMILY} again; bayes-v3 is archived." in page
    assert "Champion Gbm V7 gbm-v7" in page and "Registry rolled back bayes-v3 champion → archived" in page
    assert "conversion fell" in page

    policy = text(client.post(reverse("registry:family-policy", args=[FAMILY]),
                              {"auto_rollback": "on", "min_responses": "500"}, follow=True))
    assert "Automatic rollback on: when the champion does significantly worse than its predecessor over 500 " \
           "responses, the family rolls back by itself." in policy
    assert rs.family_policy(FAMILY).auto_rollback is True
    bad = text(client.post(reverse("registry:family-policy", args=[FAMILY]), {"min_responses": "3"}, follow=True))
    assert "Refused: Minimum responses must be a whole number of at least 10." in bad


def test_an_unknown_family_is_404(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("registry:family-detail", args=["nope"]))
    assert response.status_code == 404 and "No family 'nope'" in text(response)
    assert "No families yet." in text(client.get(reverse("registry:family-list")))


# --------------------------------------------------------------------------------------------- audit log


def test_audit_log_filters_paginates_and_exports_the_same_rows(client, viewer, analyst, admin_user, family):
    old, new = family
    for i in range(60):
        rs.model_set_status(model=new, actor=analyst, status="paused" if i % 2 == 0 else "active")
    client.force_login(viewer)
    url = reverse("registry:audit-log")
    total = ModelEvent.objects.count()
    first = client.get(url)
    page = text(first)
    assert f"{total} rows" in page and f"Page 1 of {(total + 49) // 50}" in page and "Next" in page
    assert page.count("status.changed") >= 49

    filtered = client.get(url, {"model": "gbm-v7", "action": "registry."})
    page = text(filtered)
    rows = ModelEvent.objects.filter(model_key="gbm-v7", action__startswith="registry.")
    assert f"{rows.count()} rows match" in page and "bayes-v3" not in page.replace("Request", "")
    assert "registry.moved gbm-v7 credit_propensity challenger → champion" in page
    assert "admin" in page
    assert 'href="/audit/export.csv?model=gbm-v7&amp;action=registry."' in filtered.content.decode()

    export = client.get(reverse("registry:audit-export"), {"model": "gbm-v7", "action": "registry."})
    assert export["Content-Type"] == "text/csv"
    table = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert table[0][:5] == ["id", "createdAt", "actor", "action", "modelKey"]
    assert len(table) == rows.count() + 1 and {r[4] for r in table[1:]} == {"gbm-v7"}

    by_actor = text(client.get(url, {"actor": "admin"}))
    assert f"{ModelEvent.objects.filter(actor_name='admin').count()} row" in by_actor
    future = text(client.get(url, {"since": "2999-01-01T00:00"}))
    assert "No audit rows match this filter." in future
    bad = client.get(url, {"since": "yesterday"})
    assert "Enter a valid date/time." in text(bad)
    assert client.get(reverse("registry:audit-export"), {"since": "yesterday"}).status_code == 400

    partial = client.get(url, {"family": FAMILY}, **HTMX)
    assert partial.content.decode().lstrip().startswith('<div id="results"')
    assert partial["HX-Push-Url"] == f"/audit/?family={FAMILY}"


def test_request_detail_shows_the_comparison_and_its_history(client, analyst, reviewer, family):
    _, new = family
    req = rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY, comment="go").request
    rs.promotion_request_reject(request=req, actor=reviewer, comment="not yet")
    client.force_login(analyst)
    page = text(client.get(reverse("registry:request-detail", args=[req.pk])))
    assert f"Reviews / Request #{req.pk}" in page
    assert "rejected by reviewer" in page and "“not yet”" in page
    assert "Promotion requested bayes-v3 challenger → champion" in page
    assert "Promotion rejected bayes-v3 challenger → champion" in page
    assert client.get(reverse("registry:request-detail", args=[999])).status_code == 404


def test_the_model_list_still_renders_with_the_new_navigation(client, reviewer, analyst, family):
    _, new = family
    rs.model_promote(model=new, actor=analyst, to_status="champion", family=FAMILY)
    client.force_login(reviewer)
    page = text(client.get(reverse("lifecycle:model-list")))
    assert "Models Reviews 1 pending Families Decision traces Catalog Audit log API docs" in page
    assert AlgorithmModel.objects.count() == 2
