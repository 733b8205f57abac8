"""The analyst's scoring journey in a real browser: edit a champion's outcome weights with the live preview catching
a sign mistake, set a 24h learning cadence (after "daily" is refused with the accepted forms), try a score and give
feedback, then ask for a recommendation over the API and read the trace's explanation in plain words."""

from __future__ import annotations

import re

import pytest

from tests.e2e.pages import SCREENSHOTS, log_in
from tests.factories import add_samples, make_model, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def tabular(actor, key: str):
    """A ready logistic-regression model, trained inline the way the worker would."""
    from lifecycle import services

    model = make_model(actor, key=key)
    add_samples(model, actor, n=120)
    run = services.model_train_enqueue(model=model, actor=actor)
    services.run_execute(run_id=run.pk)
    model.refresh_from_db()
    assert model.state == "ready", model.last_run.error
    return model


def default_outcome_types():
    """The ten defaults (an earlier transactional test's flush may have removed the migration's rows)."""
    from scoring.services import outcome_types_ensure_defaults

    outcome_types_ensure_defaults()


def test_analyst_weights_outcomes_sets_a_cadence_and_reads_a_trace(live_server, chromium):
    from django_q.models import Schedule

    from lifecycle import services
    from lifecycle.models import AlgorithmModel
    from lifecycle.schedules import cadence_schedule_name
    from tests.scoring.conftest import live_model, make_catalog

    default_outcome_types()
    analyst, admin = make_user("analyst"), make_user("admin", username="admin")
    make_catalog()
    live_model(admin, key="nbo", model_type="bayesian")  # champion of "offers": it decides
    live_model(admin, key="nbo-ts", model_type="thompson_bandit", rung="shadow")  # scores silently beside it
    churn = tabular(analyst, "churn-risk")
    _, token = services.api_token_create(user=analyst, actor=analyst, name="journey script")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst")
        try:
            journey(page, live_server.url, token)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "scoring-journey-failure.png"), full_page=True)
            raise

    nbo = AlgorithmModel.objects.get(key="nbo")
    assert nbo.outcome_weights == {"click": 0.3, "convert": 1.0, "dismiss": -1.0, "unsubscribed": -1.5}
    churn.refresh_from_db()
    assert (churn.auto_learn, churn.learn_mode, churn.learn_schedule) == (True, "scheduled", "24h")
    assert Schedule.objects.get(name=cadence_schedule_name(churn.pk)).minutes == 24 * 60


def journey(page, base_url, token):
    from playwright.sync_api import expect

    # Outcome weights: every type starts on the default, each with its warning.
    page.goto(f"{base_url}/models/nbo/outcome-weights/")
    editor = page.locator("#weights")
    summary = editor.locator("#weights-summary")
    expect(summary).to_contain_text("0 explicit")
    expect(summary).to_contain_text("9 warnings")
    expect(editor.get_by_role("row", name=re.compile("no_action"))).to_contain_text(
        "/respond warns “no explicit weight for outcome no_action; using default (+0)”")
    page.screenshot(path=str(SCREENSHOTS / "scoring-weights-default.png"), full_page=True)

    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Weight for click").fill("0.3")
    page.get_by_label("Weight for convert").fill("1")
    page.get_by_label("Weight for unsubscribed").fill("-1.5")
    page.get_by_label("Weight for dismiss").fill("1")  # a slip: dismiss is a negative outcome
    dismiss = editor.get_by_role("row", name=re.compile("dismiss"))
    expect(dismiss).to_contain_text("Contradicts its classification: dismiss is negative, yet +1 teaches the model "
                                    "it is a success")
    expect(summary).to_contain_text("4 explicit")
    expect(summary).to_contain_text("Preview of unsaved changes")
    page.screenshot(path=str(SCREENSHOTS / "scoring-weights-preview.png"), full_page=True)
    page.get_by_label("Weight for dismiss").fill("-1")
    expect(dismiss).not_to_contain_text("Contradicts")
    expect(dismiss).to_contain_text("-1 → a failure worth 1")
    editor.get_by_role("button", name="Save weights").click()
    expect(page.locator("#weights")).to_contain_text(
        "Saved 4 outcome weights: click +0.3, convert +1, dismiss -1, unsubscribed -1.5.")
    expect(page.locator("#weights-summary")).to_contain_text("4 explicit")
    expect(page.locator("#weights").get_by_role("row", name=re.compile("accept"))).to_contain_text(
        "Missing from the map: falls back to +1")
    assert page.evaluate("window.__sameDocument") is True, "saving reloaded the page"
    page.screenshot(path=str(SCREENSHOTS / "scoring-weights-saved.png"), full_page=True)

    # Learning cadence on the tabular model: "daily" is refused in place with the accepted forms, 24h is scheduled.
    page.goto(f"{base_url}/models/churn-risk/learning/")
    cadence = page.locator("#cadence")
    expect(cadence).to_contain_text("Not scheduled")
    cadence.get_by_label(re.compile("Learn automatically")).check()
    cadence.get_by_label("How it learns").select_option("scheduled")
    cadence.get_by_label("Every", exact=True).fill("daily")
    cadence.get_by_role("button", name="Save cadence").click()
    expect(page.locator("#cadence")).to_contain_text(
        "learnSchedule 'daily' is not a duration; write a number and a unit: \"30m\", \"6h\", \"24h\" or \"7d\"")
    expect(page.locator("#cadence").get_by_label("Every", exact=True)).to_have_value("daily")
    page.screenshot(path=str(SCREENSHOTS / "scoring-cadence-refused.png"), full_page=True)
    page.locator("#cadence").get_by_label("Every", exact=True).fill("24h")
    page.locator("#cadence").get_by_role("button", name="Save cadence").click()
    expect(page.locator("#cadence")).to_contain_text("Saved. Learning on: retrains every 24h")
    expect(page.locator("#next-run")).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(2[34]\shours"))
    page.screenshot(path=str(SCREENSHOTS / "scoring-cadence-scheduled.png"), full_page=True)

    # Try a score on the same model and label it: the feedback becomes a sample for the next retrain.
    page.get_by_role("navigation", name="This model's pages").get_by_role("link", name="Try a score").click()
    # A field per feature the serving version reads, each with its type and a typical value as placeholder.
    form = page.locator("#try form")
    form.get_by_label("tenure number").fill("3")
    form.get_by_label("plan category").fill("basic")
    form.get_by_label("spend number").fill("20")
    page.get_by_label("Content (text)").fill("cancel my account please")
    page.get_by_role("button", name="Score", exact=True).click()
    card = page.locator(".score-card")
    expect(card).to_contain_text("composite")
    expect(card.locator(".trait-score")).to_have_text(re.compile(r"^\d{1,3}$"))
    card.get_by_role("button", name="Feedback: churn is positive").click()
    expect(card).to_contain_text(re.compile(r"Recorded: churn is positive\. Sample #\d+ joins the next retrain\."))
    page.screenshot(path=str(SCREENSHOTS / "scoring-try.png"), full_page=True)

    # A script teaches the champion through /respond (the weights apply), then asks for a recommendation.
    api = page.request
    auth = {"Authorization": f"Token {token}"}

    def post(path, body):
        response = api.post(f"{base_url}/api/v1/{path}", data=body, headers=auth)
        assert response.ok, response.text()
        return response.json()

    seed = post("recommend", {"customerId": "seed", "channel": "email", "family": "offers"})
    top, second = seed["offers"][0]["offerId"], seed["offers"][1]["offerId"]
    for i in range(50):
        post("respond", {"customerId": "seed", "recommendationId": seed["recommendationId"], "rank": 1,
                         "outcome": "convert" if i % 5 else "dismiss", "idempotencyKey": f"top-{i}"})
    for i in range(5):
        post("respond", {"customerId": "seed", "recommendationId": seed["recommendationId"], "rank": 2,
                         "outcome": "dismiss", "idempotencyKey": f"second-{i}"})
    rec = post("recommend", {"customerId": "c-42", "channel": "email", "family": "offers", "limit": 3})
    # Bayes-UCB is optimistic about the two offers nobody has answered yet: they rank first, the top offer third.
    assert [o["propensitySource"] for o in rec["offers"]] == ["channel", "channel", "offer"]
    assert rec["offers"][2]["offerId"] == top

    # The adaptations table: the top offer's cell crossed its threshold.
    page.goto(f"{base_url}/models/nbo/adaptations/")
    offer_cells = page.locator("#scope-offer")
    expect(offer_cells.get_by_role("row", name=re.compile(top))).to_contain_text("50 responses, threshold 50")
    expect(offer_cells.get_by_role("row", name=re.compile(top))).to_contain_text("yes")
    expect(offer_cells.get_by_role("row", name=re.compile(second))).to_contain_text("45 more to trust")
    page.screenshot(path=str(SCREENSHOTS / "scoring-adaptations.png"), full_page=True)

    # The trace explorer, filtered to the customer, and the trace's explanation in plain words.
    page.goto(f"{base_url}/traces/")
    page.get_by_label("Customer").fill("c-42")
    expect(page.locator("#results")).to_contain_text("1 trace matches")
    expect(page).to_have_url(re.compile(r"/traces/\?customer=c-42$"))
    page.screenshot(path=str(SCREENSHOTS / "scoring-traces.png"), full_page=True)
    page.get_by_role("link", name=re.compile("Why these offers")).click()
    expect(page.get_by_role("heading", name=re.compile("Why these offers for c-42"))).to_be_visible()
    expect(page.locator("article.candidate").first).to_contain_text("Bayes-UCB ranks by an optimistic bound")
    first = page.locator("article.candidate").nth(2)
    expect(first.get_by_role("heading")).to_contain_text(f"{top}")
    expect(first).to_contain_text("Ranked 3rd of 4")
    expect(first).to_contain_text("Its own evidence decided: the offer's cell has at least 50 responses (the offer "
                                  "threshold), so its own success rate is its propensity.")
    expect(first).to_contain_text("nbo v1, a Bayesian (Beta-Binomial) model")
    expect(first).to_contain_text(re.compile(r"nbo-ts v1 scored 0\.\d{3} \(offer evidence"))  # the shadow learned too
    thin = page.locator("article.candidate").filter(has_text=f"{second}")
    expect(thin).to_contain_text("Its own evidence is thin")
    expect(page.locator(".funnel")).to_contain_text("3 Returned")
    page.screenshot(path=str(SCREENSHOTS / "scoring-trace.png"), full_page=True)

    page.goto(f"{base_url}/catalog/")
    expect(page.locator("#offers")).to_contain_text("offer-0")
    page.screenshot(path=str(SCREENSHOTS / "scoring-catalog.png"), full_page=True)
