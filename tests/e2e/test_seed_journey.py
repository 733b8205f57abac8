"""The seed's full path in one browser journey, with a real worker training the model.

An analyst creates a model, adds a trait and samples, trains it and watches the progress, activates it, sets its
learning cadence and outcome weights, moves it to shadow and challenger in a family that has a champion, and asks
for champion with a comment. A reviewer, logged in a browser context of their own, sees the pending count, opens
the request, compares candidate and champion, approves; the family page then shows the new champion and the old
one archived (the product demotes a replaced champion to archived). The pre-existing champion is context, built
through the services before the worker starts; every journey step is a click or a keystroke in the browser."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.pages import SCREENSHOTS, log_in
from tests.e2e.test_journey import write_samples_csv
from tests.factories import add_samples, make_model, make_user
from tests.workers import worker_log_tail

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TIMEOUT = 15_000  # ms, every expect and action
TRAINING_TIMEOUT = 90_000  # ms, the worker's run from queued to ready

FAMILY = "churn_retention"
OLD = "churn-gbm-v7"  # the champion the new model replaces
NEW = "journey-churn"
NEW_NAME = "Journey churn"
OLD_SNAPSHOT_AUC = 0.75  # the incumbent's stored metricsSnapshot.auc, the guard's reference
REQUEST_COMMENT = "Beats churn-gbm-v7 on held-out AUC with 80 more samples"
APPROVE_COMMENT = "Compared the metrics and the guard: fine"


@pytest.fixture
def incumbent(transactional_db, _sync_tasks):
    """The family's champion before the journey: trained in-process (the synchronous queue runs the run on
    commit), then active, challenger and champion. Requested before `worker`, so the worker never sees its run."""
    from lifecycle import services
    from registry import services as registry

    analyst, admin = make_user("analyst"), make_user("admin", username="admin")
    make_user("reviewer")
    model = make_model(analyst, key=OLD, model_type="gradient_boosted")
    add_samples(model, analyst, n=120)
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)  # a no-op when the synchronous queue ran it on commit already
    model.refresh_from_db()
    assert model.state == "ready", model.last_run.error
    model = registry.model_set_status(model=model, actor=analyst, status="active")
    registry.model_promote(model=model, actor=analyst, to_status="challenger", family=FAMILY)
    registry.model_promote(model=model, actor=admin, to_status="champion", family=FAMILY,
                           metrics_snapshot={"auc": OLD_SNAPSHOT_AUC})
    model.refresh_from_db()
    assert (model.registry_status, model.family) == ("champion", FAMILY)
    return model


def test_seed_full_path_from_new_model_to_approved_champion(incumbent, live_server, worker, chromium, tmp_path):
    from playwright.sync_api import expect

    from lifecycle.models import AlgorithmModel

    samples_csv = write_samples_csv(tmp_path / "churn-samples.csv")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        pages: dict[str, object] = {}
        expect.set_options(timeout=TIMEOUT)
        try:
            journey(browser, live_server.url, samples_csv, pages)
        except Exception:
            for who, page in pages.items():
                page.screenshot(path=str(SCREENSHOTS / f"journey1-failure-{who}.png"), full_page=True)
            print("worker log:\n" + worker_log_tail(worker))
            raise
        finally:
            expect.set_options(timeout=5_000)  # Playwright's default, for the tests that run after this one

    # What the pages said is what the database holds.
    new, old = AlgorithmModel.objects.get(key=NEW), AlgorithmModel.objects.get(key=OLD)
    assert (new.state, new.status, new.registry_status, new.family) == ("ready", "active", "champion", FAMILY)
    assert (old.registry_status, old.family) == ("archived", FAMILY)
    assert (new.auto_learn, new.learn_mode, new.learn_schedule) == (True, "scheduled", "24h")
    assert new.outcome_weights == {"convert": 1.0, "click": 0.3, "dismiss": -1.0, "unsubscribed": -1.5}
    assert new.active_version.version_no == 1


def logged_in(browser, base_url: str, username: str, pages: dict, dialogs: list):
    """The user's own logged-in page (tests.e2e.pages.log_in from /models/, sent to log in first). Every dialog (a
    confirm) is recorded and accepted, as a user who meant to click would."""
    page = log_in(browser, base_url, username, start="/models/", timeout=TIMEOUT)
    pages[username] = page
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    return page


def shot(page, name: str):
    page.screenshot(path=str(SCREENSHOTS / f"journey1-{name}.png"), full_page=True)


def journey(browser, base_url: str, samples_csv, pages: dict):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect

    analyst_dialogs: list[str] = []
    page = logged_in(browser, base_url, "analyst", pages, analyst_dialogs)

    # 1. Create the model through the form.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    page.get_by_role("link", name="New model").first.click()
    expect(page.get_by_role("heading", name="New model")).to_be_visible()
    page.get_by_label("Key").fill(NEW)
    page.get_by_label("Name").fill(NEW_NAME)
    page.get_by_label("Model type").select_option("logistic_regression")
    page.get_by_label("Description").fill("Who cancels within 60 days, from tenure, plan, spend and what they wrote")
    page.get_by_role("button", name="Create draft").click()
    expect(page).to_have_url(re.compile(rf"/models/{NEW}/"))
    expect(page.locator("h1")).to_contain_text(NEW_NAME)
    expect(page.locator("h1")).to_contain_text("Draft")
    expect(page.get_by_role("status").filter(has_text=f"Created {NEW}")).to_be_visible()
    live = page.locator("#live")
    expect(live.locator("#live-trained")).to_contain_text("Never trained")
    expect(live.locator("#live-active")).to_contain_text("Operational status is draft")

    # 2. A trait, through the trait form.
    traits = page.locator("#traits")
    traits.get_by_label("Name").fill("churn")
    traits.get_by_label("Description").fill("Cancels within 60 days")
    traits.get_by_role("button", name="Add trait").click()
    expect(page.locator("#traits")).to_contain_text("Trait churn saved.")
    expect(page.locator("#traits").get_by_role("row", name=re.compile("churn"))).to_contain_text("extrinsic")

    # 3. Samples, through the CSV upload form.
    samples = page.locator("#samples")
    upload = samples.get_by_label(re.compile("Samples file"))
    if not upload.is_visible():
        samples.get_by_text("Upload samples").click()
    upload.set_input_files(str(samples_csv))
    samples.get_by_role("button", name="Preview").click()
    expect(samples.locator(".upload-preview")).to_contain_text("Preview: 200 samples from churn-samples.csv")
    samples.get_by_role("button", name="Store 200 samples").click()
    expect(page.locator("#samples")).to_contain_text("Stored 200 samples from churn-samples.csv.")
    expect(page.locator("#samples h2")).to_contain_text("200")
    churn_row = page.locator("#traits").get_by_role("row", name=re.compile("churn"))
    expect(churn_row.locator("td.num").first).not_to_have_text("0")  # the labels landed on the trait
    shot(page, "01-draft-with-samples")

    # 4. Train with the real worker and watch the page change by itself: busy with progress, then ready, v1.
    page.evaluate("window.__sameDocument = true")
    page.locator(".page-head").get_by_role("button", name="Train", exact=True).click()
    bar = page.get_by_role("progressbar", name="Run progress")
    expect(bar).to_be_visible()
    expect(page.locator("h1")).to_contain_text("Busy")
    expect(page.locator("#live-trained")).to_contain_text("A run is in flight")
    # The panel polls every second; the worker reports progress every 0.4 s. Wait for the run to be running
    # with a percentage, then keep reading the bar (polling: it moves on its own) until the run ends.
    expect(page.locator("#progress .badge")).to_have_text("running", timeout=TRAINING_TIMEOUT)
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^\d{1,2}$"))
    expect(page.locator("#progress .progress-percent")).to_have_text(re.compile(r"^\d{1,2}%$"))
    # The runs table below moves with the bar (it comes along with each poll), not stuck at "queued".
    expect(page.locator("#runs tbody tr").first.locator(".badge")).to_have_text("running")
    shot(page, "02-training")
    progress = []
    deadline = time.monotonic() + TRAINING_TIMEOUT / 1000
    while "Ready" not in page.locator("h1").inner_text() and time.monotonic() < deadline:
        try:
            value = bar.get_attribute("aria-valuenow", timeout=500)
        except PlaywrightTimeoutError:  # between two swaps of the panel, or the run has ended
            value = None
        if value and (not progress or progress[-1] != value):
            progress.append(value)
        page.wait_for_timeout(250)
    assert progress, "the progress bar never showed a percentage"
    assert [int(v) for v in progress] == sorted(int(v) for v in progress), f"progress went backwards: {progress}"
    expect(page.locator("h1")).to_contain_text("Ready", timeout=TRAINING_TIMEOUT)
    expect(page.locator(".page-head .meta")).to_contain_text("Serving v1")
    expect(page.locator("#progress")).to_contain_text("succeeded")
    v1 = page.locator("#versions tbody tr").filter(has_text="v1")
    expect(v1).to_contain_text("serving")
    expect(v1.locator(".auc").first).to_have_text(re.compile(r"^[01]\.\d{3}$"))
    auc = float(v1.locator(".auc").first.inner_text())
    assert auc > OLD_SNAPSHOT_AUC, f"the samples are learnable, yet AUC is {auc}"
    expect(page.locator("#live-trained")).to_contain_text("Ready once; serving v1")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded while training"

    # 5. Operational status: activate from the path-to-live panel.
    live.locator("#live-active").get_by_role("button", name="Activate").click()
    expect(page.locator("#live")).to_contain_text(
        "Active: recommend considers this model and it can move up the ladder.")
    expect(page.locator("#live-active")).to_contain_text("Recommend considers it")
    expect(page.locator("#live .live-head")).to_contain_text("Status active")

    # 6. Learning cadence, on the cadence page.
    page.get_by_role("navigation", name="This model's pages").get_by_role("link", name="Learning cadence").click()
    cadence = page.locator("#cadence")
    expect(cadence).to_contain_text("Not scheduled")
    cadence.get_by_label(re.compile("Learn automatically")).check()
    cadence.get_by_label("How it learns").select_option("scheduled")
    cadence.get_by_label("Every", exact=True).fill("24h")
    cadence.get_by_role("button", name="Save cadence").click()
    expect(page.locator("#cadence")).to_contain_text("Saved. Learning on: retrains every 24h")
    expect(page.locator("#cadence .schedule-line")).to_contain_text("Scheduled")
    expect(page.locator("#next-run")).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"))
    shot(page, "03-cadence")

    # 7. Outcome weights, on the outcome-weights page.
    page.get_by_role("navigation", name="This model's pages").get_by_role("link", name="Outcome weights").click()
    weights = page.locator("#weights")
    expect(weights.locator("#weights-summary")).to_contain_text("0 explicit")
    page.get_by_label("Weight for convert").fill("1")
    page.get_by_label("Weight for click").fill("0.3")
    page.get_by_label("Weight for dismiss").fill("-1")
    page.get_by_label("Weight for unsubscribed").fill("-1.5")
    expect(weights.locator("#weights-summary")).to_contain_text("4 explicit")
    expect(weights.locator("#weights-summary")).to_contain_text("Preview of unsaved changes")
    weights.get_by_role("button", name="Save weights").click()
    saved = page.locator("#weights").get_by_role("status")
    expect(saved).to_contain_text("Saved 4 outcome weights:")
    for said in ("click +0.3", "convert +1", "dismiss -1", "unsubscribed -1.5"):
        expect(saved).to_contain_text(said)
    expect(page.locator("#weights-summary")).to_contain_text("4 explicit")
    expect(page.locator("#weights-summary")).not_to_contain_text("Preview of unsaved changes")
    shot(page, "04-weights")

    # Back on the model page, the path to live has the cadence and the weights done.
    page.get_by_role("navigation", name="This model's pages").get_by_role("link", name="Overview").click()
    live = page.locator("#live")
    expect(live.locator("#live-learning")).to_contain_text("Retrains every 24h on new samples")
    expect(live.locator("#live-learning")).to_have_class(re.compile("is-done"))
    expect(live.locator("#live-weights")).to_contain_text("convert +1, click +0.3, dismiss -1, unsubscribed -1.5")
    expect(live.locator("#live-weights")).to_have_class(re.compile("is-done"))
    expect(live.locator(".live-head")).to_contain_text("4 of 5 done")

    # 8. The ladder: shadow, then challenger, in the family that has a champion.
    ladder = live.locator(".ladder-block")
    if ladder.get_attribute("open") is None:
        ladder.locator("summary").click()
    expect(ladder.locator("summary")).to_contain_text("draft → shadow, challenger, archived")
    ladder.get_by_label("Family").fill(FAMILY)
    ladder.get_by_role("button", name="Move to shadow").click()
    expect(page.locator("#live")).to_contain_text(f"Moved to shadow in family {FAMILY}.")
    expect(page.locator("#live .live-head .badge")).to_have_text("shadow")
    expect(page.locator("#live-promoted")).to_contain_text("Shadow: scores silently, never decides")

    ladder = page.locator("#live .ladder-block")
    expect(ladder.get_by_label("Family")).to_have_value(FAMILY)
    ladder.get_by_role("button", name="Move to challenger").click()
    expect(page.locator("#live")).to_contain_text(f"Moved to challenger in family {FAMILY}.")
    expect(page.locator("#live .live-head .badge")).to_have_text("challenger")
    expect(page.locator("#live-promoted")).to_contain_text(f"Challenger in {FAMILY}")
    expect(page.locator("#live-promoted")).to_contain_text(f"{OLD} is champion of {FAMILY} now")

    # 9. Request champion, with a comment; the guard's preview compares with the incumbent first.
    ladder = page.locator("#live .ladder-block")
    auc_field = ladder.get_by_label(re.compile("^AUC"))
    expect(auc_field).to_have_value(str(auc))  # filled in from v1's AUC
    expect(ladder).to_contain_text("Filled in from v1's AUC on churn")
    snapshot_auc = auc_field.input_value()
    preview = ladder.locator("#guard-preview")
    expect(preview).to_contain_text("passes")
    expect(preview).to_contain_text(f"Compared with {OLD}, champion of {FAMILY} (stored AUC {OLD_SNAPSHOT_AUC})")
    ladder.get_by_label(re.compile("^Comment")).fill(REQUEST_COMMENT)
    expect(ladder).to_contain_text("A move to champion becomes a request")
    ladder.get_by_role("button", name="Request champion").click()
    live = page.locator("#live")
    expect(live).to_contain_text(re.compile(
        rf"Requested: {NEW} for champion of {FAMILY} is now pending as request #\d+"))
    expect(live.locator(".pending-note")).to_contain_text(f"challenger → champion of {FAMILY}")
    expect(live.locator(".pending-note")).to_contain_text("asked by analyst")
    expect(live.get_by_role("button", name="Cancel request")).to_be_visible()
    request_no = re.search(r"request #(\d+)", live.inner_text()).group(1)
    shot(page, "05-champion-requested")

    # 10. The reviewer, in a context of their own: the pending count in the navigation, then the queue.
    reviewer_dialogs: list[str] = []
    reviewer = logged_in(browser, base_url, "reviewer", pages, reviewer_dialogs)
    nav_reviews = reviewer.locator("#nav-reviews")
    expect(nav_reviews.locator(".nav-count")).to_have_text(re.compile(r"^\s*1\s*pending"))
    nav_reviews.click()
    expect(reviewer.get_by_role("heading", name=re.compile("^Reviews"))).to_be_visible()
    expect(reviewer.locator("#queue-count")).to_have_text("1 pending")
    card = reviewer.locator(f"article#request-{request_no}")
    expect(card).to_contain_text(f"{NEW} challenger → champion of {FAMILY}")
    expect(card).to_contain_text(REQUEST_COMMENT)
    expect(card).to_contain_text("Asked by analyst")

    # The request's own page: candidate beside the champion, metric by metric.
    card.get_by_role("link", name=f"Request #{request_no}").click()
    expect(reviewer).to_have_url(re.compile(rf"/reviews/{request_no}/$"))
    card = reviewer.locator(f"article#request-{request_no}")
    compare = card.locator("table.compare-table")
    expect(compare.locator("thead")).to_contain_text("Candidate")
    expect(compare.locator("thead")).to_contain_text("Current champion")
    expect(compare.get_by_role("row", name=re.compile(r"^Model"))).to_contain_text(re.compile(rf"{NEW}.*{OLD}", re.S))
    expect(compare.get_by_role("row", name=re.compile(r"^Version"))).to_contain_text(re.compile(r"v1.*v1", re.S))
    expect(compare.get_by_role("row", name=re.compile(r"^Samples"))).to_contain_text(re.compile(r"200\s+120\s+\+80"))
    number = r"[01]\.\d{3}"
    for metric in ("AUC churn", "Log loss churn", "Accuracy churn"):
        expect(compare.get_by_role("row", name=re.compile(rf"^{metric}"))).to_contain_text(
            re.compile(rf"{number}\s+{number}\s+[+−-]?\d\.\d{{3}}"))
    expect(compare.get_by_role("row", name=re.compile(r"^AUC churn")).locator("td strong")).to_have_text(f"{auc:.3f}")
    expect(compare.get_by_role("row", name=re.compile(r"^Metrics snapshot"))).to_contain_text(
        re.compile(rf"auc {re.escape(snapshot_auc)}\s+auc {re.escape(str(OLD_SNAPSHOT_AUC))}"))
    expect(card).to_contain_text("Guard when asked: passes")
    expect(card).to_contain_text("Guard now (approval re-runs it): passes")
    shot(reviewer, "06-review-request")

    # 11. Approve, with a comment, in place.
    reviewer.evaluate("window.__sameDocument = true")
    card.get_by_label(re.compile("^Comment")).fill(APPROVE_COMMENT)
    card.get_by_role("button", name=re.compile(rf"^Approve: make {NEW} champion")).click()
    decided = reviewer.locator(f"article#request-{request_no}")
    expect(decided.get_by_role("status")).to_contain_text(
        f"Approved: {NEW} is now champion of {FAMILY}; {OLD} is archived.")
    expect(decided.locator(".decision-line")).to_contain_text("approved by reviewer")
    expect(decided.locator(".decision-line")).to_contain_text(APPROVE_COMMENT)
    expect(decided.locator("thead")).to_contain_text("Champion it replaced")
    expect(nav_reviews.locator(".nav-count")).to_have_count(0)
    assert reviewer.evaluate("window.__sameDocument") is True, "the approval reloaded the page"
    shot(reviewer, "07-approved")

    # 12. The family page: the new champion, the old one archived and offered for a rollback.
    decided.get_by_role("link", name=f"Family {FAMILY}").click()
    expect(reviewer.get_by_role("heading", name=re.compile(FAMILY), level=1)).to_be_visible()
    champion = reviewer.locator("#champion")
    expect(champion.locator(".champion-name")).to_contain_text(NEW_NAME)
    expect(champion.locator(".champion-name")).to_contain_text(NEW)
    expect(champion).to_contain_text(f"auc {snapshot_auc}")
    expect(champion.get_by_role("button", name=f"Roll back to {OLD}")).to_be_visible()
    members = reviewer.locator("#members")
    new_row = members.locator("tbody tr").filter(has_text=NEW)
    expect(new_row.locator("td:not(.select-cell)").first).to_have_text("champion")  # the rung, after the compare box
    old_row = members.locator("tbody tr").filter(has_text=OLD)
    expect(old_row.locator("td:not(.select-cell)").first).to_contain_text("archived")
    expect(old_row).to_contain_text("previous champion")
    history = reviewer.locator("#history")
    expect(history).to_contain_text("Registry demoted")
    expect(history).to_contain_text(f"Replaced as champion of {FAMILY} by {NEW}")
    shot(reviewer, "08-family")

    # The analyst's page, reloaded: the path to live is done.
    page.reload()
    expect(page.locator("#live-promoted")).to_contain_text(f"Champion of {FAMILY}")
    expect(page.locator("#live-promoted")).to_have_class(re.compile("is-done"))
    expect(page.locator("#live .live-head")).to_contain_text("5 of 5 done")
    shot(page, "09-analyst-done")

    # Only the irreversible step asked first: the champion approval.
    assert analyst_dialogs == [], analyst_dialogs
    assert reviewer_dialogs == [f"Make {NEW} champion of {FAMILY}? It decides for the family at once and {OLD} is archived."]
