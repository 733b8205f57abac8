"""Browser journeys use the `worker` fixture of tests/conftest.py and the helpers in tests/workers.py.

`chromium` opens headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH) for every journey here."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

from tests.conftest import chromium_path
from tests.workers import REPO_ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"


@pytest.fixture
def chromium():
    """Opens headless Chromium: `with chromium() as browser:`. Opened inside the test, after its database
    setup, because Django refuses ORM calls while Playwright's event loop runs in this thread."""
    path = chromium_path()
    if path is None:
        message = "Chromium not found (set CHROMIUM_PATH or install Debian's chromium) - browser journeys need it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def open_browser():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()

    return open_browser
