"""axe-core (vendored in static/vendor/axe-core/) run in headless Chromium on the main pages: no serious or
critical violations."""

from __future__ import annotations

import pytest

from tests.e2e.test_dashboard_journeys import VIEWPORT, demo_data
from tests.workers import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = REPO_ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")


def test_main_pages_have_no_serious_accessibility_violations(live_server, chromium):
    from lifecycle import services
    from lifecycle.models import AlgorithmModel
    from registry.models import PromotionRequest

    keys = demo_data()
    analyst = AlgorithmModel.objects.get(key=keys["champion"]).created_by
    services.api_token_create(user=analyst, actor=analyst, name="nightly scoring")
    request_id = PromotionRequest.objects.get(model__key=keys["challenger"], state="pending").pk
    run_id = AlgorithmModel.objects.get(key=keys["champion"]).runs.order_by("pk").first().pk
    pages = {
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
    found = {}
    with chromium() as browser:
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(f"{live_server.url}/login/")
        found["login"] = axe_violations(page)
        page.get_by_label("Username").fill("analyst")
        page.get_by_label("Password").fill("analyst-demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")  # login lands on the dashboard
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            found[name] = axe_violations(page)
    blocking = {name: [v for v in violations if v["impact"] in BLOCKING] for name, violations in found.items()}
    blocking = {name: v for name, v in blocking.items() if v}
    assert not blocking, "\n".join(f"{name}: {v['id']} ({v['impact']}) {v['help']}\n    " + "\n    ".join(v["nodes"])
                                   for name, vs in blocking.items() for v in vs)
