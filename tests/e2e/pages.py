"""What the browser journeys share: logging in through the form, the seeded demo data and the axe-core check."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path

from tests.factories import PASSWORD
from tests.workers import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
VIEWPORT = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 10_000
AXE = REPO_ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def log_in(browser, base_url: str, username: str, *, password: str = PASSWORD, viewport: dict | None = None,
           width: int | None = None, start: str = "/login/", timeout: int = TIMEOUT):
    """A page in a browser context of the user's own (its own session cookie), logged in through the login form.

    `start` is where the user goes first: any page but /login/ sends an anonymous user to log in, and back there
    after. Without `start`, login lands on the dashboard. `width` keeps the default height of 900 px."""
    from playwright.sync_api import expect

    if viewport is None:
        viewport = {"width": width, "height": VIEWPORT["height"]} if width else VIEWPORT
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(timeout)
    page = context.new_page()
    page.goto(base_url + start)
    expect(page).to_have_url(re.compile(r"/login/"))  # anonymous: sent to log in first
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))
    if start == "/login/":
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # login lands on the dashboard
    expect(page.locator(".who")).to_contain_text(username)
    return page


def demo_data() -> dict:
    """seed_demo plus a family: churn-risk champion of "retention", credit-scorecard its challenger with a
    pending request to become champion. Returns the keys the journeys look for."""
    from django.contrib.auth import get_user_model

    from lifecycle.models import AlgorithmModel
    from registry import services as registry_services

    _seed_demo()
    users = {u.username: u for u in get_user_model().objects.all()}
    churn = AlgorithmModel.objects.get(key="churn-risk")
    card = AlgorithmModel.objects.get(key="credit-scorecard")
    for model in (churn, card):
        registry_services.model_set_status(model=model, actor=users["analyst"], status="active")
    for rung in ("shadow", "champion"):
        registry_services.model_promote(model=AlgorithmModel.objects.get(pk=churn.pk), actor=users["admin"],
                                        to_status=rung, family="retention")
    registry_services.model_promote(model=AlgorithmModel.objects.get(pk=card.pk), actor=users["analyst"],
                                    to_status="challenger", family="retention")
    registry_services.model_promote(model=AlgorithmModel.objects.get(pk=card.pk), actor=users["analyst"],
                                    to_status="champion", family="retention")
    return {"champion": churn.key, "challenger": card.key, "family": "retention"}


# The rows the first seed_demo of this test session wrote, as a fixture file: the journeys after it load them.
_demo_rows: Path | None = None


def _seed_demo() -> None:
    """What seed_demo writes, in an emptied test database. The first call of a session runs the command (about a
    minute: it trains and makes hundreds of decisions) and keeps every row it wrote; later calls load those rows,
    ids included, in a few seconds. `tests/lifecycle/test_commands.py` runs the command itself each time.

    Before loading, the rows that `migrate` makes again after each emptying (roles, default outcome types) are
    removed: the kept ones come back with the ids the other rows refer to."""
    global _demo_rows
    from django.apps import apps
    from django.core.management import call_command

    if _demo_rows is None:
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
        folder = tempfile.mkdtemp(prefix="lifecycle-demo-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        rows = Path(folder) / "demo.json"
        call_command("dumpdata", natural_foreign=True, exclude=[*_NOT_KEPT], output=str(rows), verbosity=0)
        _demo_rows = rows
        return
    for model in apps.get_models():
        label = model._meta.label_lower
        if label not in _NOT_KEPT and model._meta.app_label not in _NOT_KEPT and model._base_manager.exists():
            model._base_manager.all().delete()
    call_command("loaddata", str(_demo_rows), verbosity=0)


# Rows migrate makes alike every time (found by natural key), and the sessions of whoever logged in.
_NOT_KEPT = ("contenttypes", "auth.permission", "sessions")


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it stands (vendored in static/vendor/axe-core/)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")


def blocking_violations(found: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The serious and critical violations of each named page, pages without any left out."""
    blocking = {name: [v for v in violations if v["impact"] in BLOCKING] for name, violations in found.items()}
    return {name: v for name, v in blocking.items() if v}


def describe_violations(blocking: dict[str, list[dict]]) -> str:
    return "\n".join(f"{name}: {v['id']} ({v['impact']}) {v['help']}\n    " + "\n    ".join(v["nodes"])
                     for name, vs in blocking.items() for v in vs)
