"""The analyst's first journey in a real browser, with a real worker training the model:
log in, create a model, define a trait, upload samples, train, watch the progress, see v1 serving."""

from __future__ import annotations

import csv
import re

import pytest

from tests.e2e.pages import SCREENSHOTS, log_in
from tests.factories import make_user, sample_rows
from tests.workers import worker_log_tail

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def write_samples_csv(path, n: int = 200, trait: str = "churn"):
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["content", "tenure", "plan", "spend", f"label.{trait}"])
        for row in sample_rows(n, trait=trait, seed=7):
            f = row["features"]
            out.writerow([row["content"], f["tenure"], f["plan"], f["spend"], row["labels"][trait]])
    return path


def test_analyst_trains_a_model_and_sees_v1_serving(live_server, worker, chromium, tmp_path):
    make_user("analyst")
    samples_csv = write_samples_csv(tmp_path / "churn-samples.csv")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst", start="/models/")  # sent to log in, then back
        journey(page, live_server.url, samples_csv, worker)


def journey(page, base_url, samples_csv, worker):
    from playwright.sync_api import expect

    try:
        expect(page.get_by_role("heading", name="Models")).to_be_visible()

        page.get_by_role("link", name="New model").click()
        page.get_by_label("Key").fill("journey-churn")
        page.get_by_label("Name").fill("Journey churn")
        page.get_by_label("Model type").select_option("logistic_regression")
        page.get_by_role("button", name="Create draft").click()
        expect(page.get_by_role("heading", name=re.compile("Journey churn"))).to_be_visible()
        expect(page.locator("h1")).to_contain_text("Draft")

        traits = page.locator("#traits")
        traits.get_by_label("Name").fill("churn")
        traits.get_by_label("Description").fill("Cancels within 60 days")
        traits.get_by_role("button", name="Add trait").click()
        expect(traits.get_by_role("row", name=re.compile("churn"))).to_be_visible()

        samples = page.locator("#samples")
        if not samples.get_by_label(re.compile("Samples file")).is_visible():
            samples.get_by_text("Upload samples").click()
        samples.get_by_label(re.compile("Samples file")).set_input_files(str(samples_csv))
        samples.get_by_role("button", name="Preview").click()
        expect(samples.locator(".upload-preview")).to_contain_text("Preview: 200 samples")
        samples.get_by_role("button", name="Store 200 samples").click()
        expect(page.locator("#samples")).to_contain_text("Stored 200 samples")
        expect(page.locator("#samples h2")).to_contain_text("200")

        page.get_by_role("button", name="Train", exact=True).click()
        bar = page.get_by_role("progressbar")
        expect(bar).to_be_visible()
        seen = set()
        for _ in range(40):  # watch it move: the worker reports progress every 0.4 s
            if not bar.is_visible():
                break
            seen.add((bar.get_attribute("aria-valuenow"), page.locator("#progress .badge").inner_text()))
            if any(status == "running" for _, status in seen) and len({v for v, _ in seen if v}) >= 2:
                break
            page.wait_for_timeout(250)
        assert any(status == "running" for _, status in seen) or len({v for v, _ in seen if v}) >= 2, seen

        # The page refreshes itself when the run ends: ready, v1 serving, an AUC in the versions table.
        expect(page.locator("h1")).to_contain_text("Ready", timeout=40_000)
        expect(page.locator(".page-head .meta")).to_contain_text("Serving v1")
        v1 = page.locator("#versions tbody tr").filter(has_text="v1")
        expect(v1).to_contain_text("serving")
        expect(v1.locator(".auc").first).to_have_text(re.compile(r"^[01]\.\d{3}$"))
        auc = float(v1.locator(".auc").first.inner_text())
        assert auc > 0.7, f"the samples are learnable, yet AUC is {auc}"
        expect(page.locator("#progress")).to_contain_text("succeeded")
        page.screenshot(path=str(SCREENSHOTS / "journey-ready.png"), full_page=True)

        page.get_by_role("link", name="Models", exact=True).first.click()
        row = page.get_by_role("row", name=re.compile("Journey churn"))
        expect(row).to_contain_text("Ready")
        expect(row).to_contain_text("v1")
        page.screenshot(path=str(SCREENSHOTS / "models-list.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "journey-failure.png"), full_page=True)
        print("worker log:\n" + worker_log_tail(worker))
        raise
