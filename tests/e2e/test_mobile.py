"""The main pages at 390 px (a phone): the top navigation folds into a menu, wide tables scroll inside their own
box and no page scrolls sideways."""

from __future__ import annotations

import pytest

from tests.e2e.test_dashboard_journeys import demo_data

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

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


def test_the_main_pages_fit_a_390_px_screen(live_server, chromium):
    from playwright.sync_api import expect

    from lifecycle.models import AlgorithmModel, ModelVersion, TrainingRun
    from registry.models import PromotionRequest
    from scoring.models import DecisionTrace

    keys = demo_data()
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
    pages += [f"/models/{champion.key}/versions/{version.version_no}/", f"/models/{champion.key}/runs/{run.pk}/",
              f"/models/{champion.key}/compare/?v=1&v={version.version_no}"]

    with chromium() as browser:
        page = browser.new_context(viewport=PHONE).new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill("analyst")
        page.get_by_label("Password").fill("analyst-demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")

        # The navigation is folded behind one button; opening it shows every link, Escape folds it again.
        menu = page.get_by_role("button", name="Menu")
        nav = page.get_by_role("navigation", name="Main")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(nav).to_be_hidden()
        menu.click()
        expect(nav.get_by_role("link", name="Families")).to_be_visible()
        page.keyboard.press("Escape")
        expect(nav).to_be_hidden()

        too_wide = {}
        for path in pages:
            response = page.goto(live_server.url + path)
            assert response.status == 200, f"{path} answered {response.status}"
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > PHONE["width"]:
                too_wide[path] = (width, page.evaluate(WIDEST))
        assert not too_wide, "pages wider than the 390 px screen: " + "; ".join(
            f"{path} {width}px ({', '.join(culprits)})" for path, (width, culprits) in too_wide.items())
