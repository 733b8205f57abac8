"""The main pages over one seeding of the demo data (seed_demo takes a minute, so both walks share it):

- axe-core (vendored in static/vendor/axe-core/) in headless Chromium at 1366 px: no serious or critical violations;
- at 390 px (a phone): the top navigation folds into a menu, wide tables scroll inside their own box and no page
  scrolls sideways.

Each walk collects what it finds and the test reports both walks' findings together."""

from __future__ import annotations

import pytest

from tests.e2e.pages import (
    PHONE,
    VIEWPORT,
    axe_violations,
    blocking_violations,
    demo_data,
    describe_violations,
    log_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What sticks out past the right edge without a scrolling box around it: the culprit's name for the message.
WIDEST = """() => { const w = document.documentElement.clientWidth; const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.getBoundingClientRect().right <= w + 0.5) continue;
    let clipped = false;
    for (let a = el.parentElement; a; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; } }
    if (!clipped) out.push(el.tagName.toLowerCase() + '.' + String(el.className).replace(/ /g, '.'));
  }
  return out.slice(0, 5); }"""


def accessibility_pages(keys: dict) -> dict[str, str]:
    from lifecycle.models import AlgorithmModel
    from registry.models import PromotionRequest

    request_id = PromotionRequest.objects.get(model__key=keys["challenger"], state="pending").pk
    run_id = AlgorithmModel.objects.get(key=keys["champion"]).runs.order_by("pk").first().pk
    return {
        "dashboard": "/", "models list": "/models/", "model detail": f"/models/{keys['champion']}/",
        "draft model": "/models/support-tone/", "failed model": "/models/upsell-neural/",
        "version comparison": f"/models/{keys['champion']}/compare/", "review queue": "/reviews/",
        "request": f"/reviews/{request_id}/", "families": "/families/", "family": f"/families/{keys['family']}/",
        "audit log": "/audit/", "tokens": "/tokens/", "not found": "/models/no-such-model/",
        "shadow against champion": "/models/offers-epsilon/shadow/", "family with an experiment": "/families/card-offers/",
        "decision traces": "/traces/", "adaptations": "/models/offers-bandit/adaptations/", "catalog": "/catalog/",
        "outcome weights": "/models/offers-bandit/outcome-weights/", "learning cadence": f"/models/{keys['champion']}/learning/",
        "version": f"/models/{keys['champion']}/versions/1/", "run": f"/models/{keys['champion']}/runs/{run_id}/",
        "versions compared": f"/models/{keys['champion']}/compare/?v=1&v=2",
        "family versions compared": f"/families/{keys['family']}/compare/?v={keys['champion']}:1&v={keys['challenger']}:1",
    }


def phone_pages(keys: dict) -> list[str]:
    from lifecycle.models import AlgorithmModel, ModelVersion, TrainingRun
    from registry.models import PromotionRequest
    from scoring.models import DecisionTrace

    champion = AlgorithmModel.objects.get(key=keys["champion"])
    request_id = PromotionRequest.objects.filter(state="pending").values_list("pk", flat=True).first()
    trace = DecisionTrace.objects.order_by("-pk").first()
    pages = ["/", "/models/", f"/models/{champion.key}/", f"/models/{champion.key}/versions/",
             f"/models/{champion.key}/runs/", f"/models/{champion.key}/samples/", f"/models/{champion.key}/compare/",
             f"/models/{champion.key}/learning/", f"/models/{champion.key}/try/", "/models/support-tone/",
             "/models/offers-bandit/adaptations/", "/models/offers-bandit/outcome-weights/",
             "/models/offers-epsilon/shadow/", "/reviews/", f"/reviews/{request_id}/", "/families/",
             f"/families/{keys['family']}/", "/families/card-offers/", "/traces/", "/catalog/", "/audit/", "/tokens/"]
    if trace is not None:
        pages.append(f"/traces/{trace.pk}/")
    version = ModelVersion.objects.filter(model=champion).order_by("-version_no").first()
    run = TrainingRun.objects.filter(model=champion).order_by("-pk").first()
    return pages + [f"/models/{champion.key}/versions/{version.version_no}/", f"/models/{champion.key}/runs/{run.pk}/",
                    f"/models/{champion.key}/compare/?v=1&v={version.version_no}"]


def accessibility_walk(browser, base_url: str, pages: dict[str, str]) -> str:
    """The serious and critical axe violations of the login page and each page, described; "" when none."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base_url}/login/")
    found = {"login": axe_violations(page)}
    page.close()
    page = log_in(browser, base_url, "analyst", password="analyst-demo")
    for name, path in pages.items():
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        found[name] = axe_violations(page)
    return describe_violations(blocking_violations(found))


def phone_walk(browser, base_url: str, pages: list[str]) -> str:
    """At 390 px: the menu folds and unfolds (asserted in place); the pages that did not answer 200 or are wider
    than the screen, described; "" when none."""
    from playwright.sync_api import expect

    page = log_in(browser, base_url, "analyst", password="analyst-demo", viewport=PHONE)

    # The navigation is folded behind one button; opening it shows every link, Escape folds it again.
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    menu.click()
    expect(nav.get_by_role("link", name="Families")).to_be_visible()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()

    not_ok, too_wide = {}, {}
    for path in pages:
        response = page.goto(base_url + path)
        if response.status != 200:
            not_ok[path] = response.status
            continue
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[path] = (width, page.evaluate(WIDEST))
    problems = [f"{path} answered {status}" for path, status in not_ok.items()]
    if too_wide:
        problems.append("pages wider than the 390 px screen: " + "; ".join(
            f"{path} {width}px ({', '.join(culprits)})" for path, (width, culprits) in too_wide.items()))
    return "\n".join(problems)


def test_main_pages_are_accessible_and_fit_a_390_px_screen(live_server, chromium):
    from lifecycle import services
    from lifecycle.models import AlgorithmModel

    keys = demo_data()
    analyst = AlgorithmModel.objects.get(key=keys["champion"]).created_by
    services.api_token_create(user=analyst, actor=analyst, name="nightly scoring")
    accessible, phone = accessibility_pages(keys), phone_pages(keys)

    with chromium() as browser:
        violations = accessibility_walk(browser, live_server.url, accessible)
        misfits = phone_walk(browser, live_server.url, phone)
    assert not violations and not misfits, "\n".join(
        part for part in (violations and "Accessibility (serious or critical):\n" + violations,
                          misfits and "At 390 px:\n" + misfits) if part)
