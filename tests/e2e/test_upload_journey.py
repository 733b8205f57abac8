"""The analyst's upload in a real browser: a semicolon file with a label key that matches no trait and rows without
labels is previewed (its columns, labels per trait, the unknown key, the unlabelled rows) before anything is stored,
then stored; the model page shows the stored counts, and the samples page removes ticked samples after a confirmation.
The preview also fits a phone's width."""

from __future__ import annotations

import re

import pytest

from tests.e2e.pages import log_in
from tests.factories import make_model, make_user
from tests.workers import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
# As a spreadsheet in a semicolon locale exports it: upsell is no trait of the model, two rows carry no label.
EXPORT = ("tenure;plan;content;label.churn;label.upsell\n"
          "3;basic;cancel my account;positive;yes\n"
          "8;basic;too expensive;positive;\n"
          "40;pro;love the service;negative;no\n"
          "52;plus;great support;negative;\n"
          "12;plus;;;\n"
          "30;pro;;;\n")


def test_a_semicolon_export_is_previewed_then_stored_and_samples_are_removed(live_server, chromium, tmp_path):
    analyst = make_user("analyst")
    model = make_model(analyst, key="churn-risk")
    make_model(analyst, key="churn-phone")
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        pages = []
        try:
            journey(browser, live_server.url, export, pages)
            phone(browser, live_server.url, export, pages)
        except Exception:
            for i, page in enumerate(pages):
                page.screenshot(path=str(SCREENSHOTS / f"upload-journey-failure-{i}.png"), full_page=True)
            raise

    assert model.samples.count() == 4  # six stored, two removed


def preview(page, export):
    from playwright.sync_api import expect

    samples = page.locator("#samples")
    if not samples.get_by_label(re.compile("Samples file")).is_visible():
        samples.get_by_text("Upload samples").click()
    samples.get_by_label(re.compile("Samples file")).set_input_files(str(export))
    samples.get_by_role("button", name="Preview").click()
    shown = samples.locator(".upload-preview")
    expect(shown).to_contain_text("Preview: 6 samples from export.csv")
    return shown


def journey(browser, base_url, export, pages):
    from playwright.sync_api import expect

    page = log_in(browser, base_url, "analyst", width=1366)
    pages.append(page)
    page.goto(f"{base_url}/models/churn-risk/")

    shown = preview(page, export)
    expect(shown).to_contain_text("CSV, semicolon separated")
    features = shown.locator(".feature-chips li")
    expect(features).to_have_count(2)
    expect(features.nth(0)).to_contain_text("tenure number")
    expect(features.nth(1)).to_contain_text("plan text")
    # Positive and negative in the file, then the model's counts once it is stored.
    expect(shown.get_by_role("row", name=re.compile("^churn")).locator("td")).to_have_text(["2", "2", "2 / 2"])
    expect(shown).to_contain_text("Label keys that match no trait: upsell (2 rows). Discovery can turn these into "
                                  "traits")
    expect(shown).to_contain_text("2 rows carry no label: used by discovery, not by training.")
    expect(page.locator("#samples h2")).to_contain_text("0")  # nothing stored by the preview
    shown.screenshot(path=str(SCREENSHOTS / "upload-preview-1366.png"))

    shown.get_by_role("button", name="Store 6 samples").click()
    stored = page.locator("#samples .flash-warning")
    expect(stored).to_contain_text("Stored 6 samples from export.csv.")
    expect(stored).to_contain_text("2 of 6 row(s) carry no label")
    expect(page.locator("#samples h2")).to_contain_text("6")
    churn = page.locator("#traits").get_by_role("row", name=re.compile("^churn"))
    expect(churn.locator("td.num")).to_have_text(["2", "2"])
    expect(page.locator("#traits")).to_contain_text("Samples carry labels for undefined traits: upsell")
    page.screenshot(path=str(SCREENSHOTS / "upload-stored-1366.png"), full_page=True)

    # The samples page of the draft: tick two, confirm, and they are gone.
    page.locator("#samples").get_by_role("link", name=re.compile("All 6 samples")).click()
    expect(page.get_by_role("button", name="Remove selected")).to_be_visible()
    page.get_by_label(re.compile(r"^Select sample \d+$")).nth(0).check()
    page.get_by_label(re.compile(r"^Select sample \d+$")).nth(1).check()
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Remove selected").click()
    expect(page.locator(".flash-success")).to_contain_text("Removed 2 samples.")
    assert asked == ["Remove 2 samples from churn-risk? This cannot be undone."]
    expect(page.get_by_label(re.compile(r"^Select sample \d+$"))).to_have_count(4)
    page.screenshot(path=str(SCREENSHOTS / "samples-removed-1366.png"), full_page=True)


def phone(browser, base_url, export, pages):
    page = log_in(browser, base_url, "analyst", width=390)
    pages.append(page)
    page.goto(f"{base_url}/models/churn-phone/")
    shown = preview(page, export)
    shown.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "upload-preview-390.png"), full_page=True)
    # The samples card and its preview fit the phone's width (a wide table scrolls inside its own box).
    assert page.evaluate("""() => [...document.querySelectorAll('#samples, #samples .upload-preview *')]
        .every(e => e.closest('.table-scroll') !== null && e.closest('.table-scroll') !== e
                    || e.getBoundingClientRect().right <= window.innerWidth)""")
    page.goto(f"{base_url}/models/churn-phone/samples/")
    page.screenshot(path=str(SCREENSHOTS / "samples-390.png"), full_page=True)
