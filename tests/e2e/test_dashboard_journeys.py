"""Dashboard journeys in a real browser: a retrain seen live and a rollback, a viewer who can change nothing,
and the home dashboard with demo data whose charts carry the numbers they were drawn from."""

from __future__ import annotations

import re

import pytest

from tests.e2e.pages import SCREENSHOTS, demo_data, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def shot(page, name: str):
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


# ------------------------------------------------------------------- (a) a retrain seen live, then a rollback


@pytest.mark.worker
def test_a_retrain_while_the_model_serves_is_seen_live_then_rolled_back_to_v1(live_server, worker, chromium):
    from lifecycle import services
    from registry import services as registry_services
    from tests.factories import add_samples, make_model, make_user
    from tests.workers import worker_log_tail

    analyst = make_user("analyst")
    model = make_model(analyst, key="serving-churn")
    add_samples(model, analyst, n=400)
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)  # v1 serves before the browser opens
    registry_services.model_set_status(model=model, actor=analyst, status="active")

    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst")
        dash = log_in(browser, live_server.url, "analyst")
        try:
            retrain_and_roll_back(page, dash, live_server.url)
        except Exception:
            shot(page, "dashboard-retrain-failure.png")
            shot(dash, "dashboard-retrain-failure-home.png")
            print("worker log:\n" + worker_log_tail(worker))
            raise


def retrain_and_roll_back(page, dash, base_url):
    from playwright.sync_api import expect

    page.goto(f"{base_url}/models/serving-churn/")
    expect(page.locator(".page-head .meta")).to_contain_text("Serving v1")
    dash.goto(f"{base_url}/")
    expect(dash.locator("#dash-runs")).to_contain_text("Nothing is training right now")
    for p in (page, dash):
        p.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    page.get_by_role("button", name="Retrain").click()
    bar = page.locator("#progress").get_by_role("progressbar")
    expect(bar).to_be_visible()
    expect(page.locator(".page-head .meta")).to_contain_text("Serving v1")  # v1 keeps serving meanwhile

    # The dashboard was open before the run started: a reload shows the run, then it follows it by itself.
    dash.reload()
    dash.evaluate("window.__sameDocument = true")
    dash_bar = dash.locator("#dash-runs").get_by_role("progressbar")
    expect(dash_bar).to_be_visible()
    seen = set()
    for _ in range(60):
        if not bar.is_visible():
            break
        seen.add(bar.get_attribute("aria-valuenow"))
        if len(seen - {None}) >= 2:
            break
        page.wait_for_timeout(200)
    assert len(seen - {None}) >= 2 or None in seen, f"the bar never moved: {seen}"
    shot(dash, "dashboard-run-in-progress.png")

    expect(page.locator(".page-head .meta")).to_contain_text("Serving v2", timeout=40_000)
    expect(page.locator("#progress")).to_contain_text("succeeded")
    expect(dash.locator("#dash-runs")).to_contain_text("Nothing is training right now", timeout=10_000)
    assert page.evaluate("window.__sameDocument") and dash.evaluate("window.__sameDocument"), "a page reloaded"
    # The dashboard stopped polling once nothing runs.
    assert dash.locator("#dash-runs[hx-trigger]").count() == 0
    chart = page.locator('figure[data-chart="line"]').first
    expect(chart).to_have_attribute("data-points", "2")  # the AUC history has v1 and v2

    page.on("dialog", lambda dialog: dialog.accept())
    v1 = page.locator("#versions tbody tr").filter(has_text="v1")
    v1.get_by_role("button", name="Roll back to v1").click()
    expect(page.locator("#versions")).to_contain_text("Now serving v1")
    expect(page.locator(".page-head .meta")).to_contain_text("Serving v1")
    expect(page.locator("#versions tbody tr.is-active")).to_contain_text("v1")
    expect(page.locator("#versions tbody tr.is-active")).to_contain_text("serving")
    shot(page, "dashboard-rolled-back.png")


# ------------------------------------------------------------------- (b) a viewer sees all and changes nothing


VIEWER_PAGES = ["/", "/models/", "/models/churn-risk/", "/models/churn-risk/compare/", "/models/upsell-neural/",
                "/reviews/", "/families/", "/families/retention/", "/audit/"]


def test_a_viewer_sees_everything_and_can_change_nothing(live_server, chromium):
    from lifecycle.models import AlgorithmModel
    from registry.models import PromotionRequest
    from tests.factories import make_user

    demo_data()
    make_user("viewer", username="vera")
    request_id = PromotionRequest.objects.get(model__key="credit-scorecard", state="pending").pk
    before = {m.key: (m.state, m.status, m.registry_status, m.active_version_id) for m in AlgorithmModel.objects.all()}

    with chromium() as browser:
        page = log_in(browser, live_server.url, "vera")
        try:
            viewer_walk(page, live_server.url, [*VIEWER_PAGES, f"/reviews/{request_id}/"])
        except Exception:
            shot(page, "dashboard-viewer-failure.png")
            raise
    after = {m.key: (m.state, m.status, m.registry_status, m.active_version_id) for m in AlgorithmModel.objects.all()}
    assert after == before


def viewer_walk(page, base_url, paths):
    from playwright.sync_api import expect

    for path in paths:
        response = page.goto(base_url + path)
        assert response.status == 200, path
        main = page.locator("main")
        expect(main.locator("h1")).to_have_count(1)
        # No write control works: every button in a form that posts is absent or disabled...
        live = main.locator("form[method=post] button:not([disabled]), form[method=post] input[type=submit]:not([disabled])")
        assert live.count() == 0, f"{path}: {live.first.inner_text()!r} is clickable for a viewer"
        # ...and a disabled one says why.
        for button in main.locator("button[disabled]").all():
            reason_id = button.get_attribute("aria-describedby")
            reason = page.locator(f"#{reason_id}").inner_text() if reason_id else button.get_attribute("title") or ""
            assert re.search(r"unavailable|cannot|role", reason), f"{path}: {button.inner_text()!r} has no reason"
        assert main.locator("a", has_text="New model").count() == 0, path
    page.goto(base_url + "/models/churn-risk/")
    expect(page.locator("main")).to_contain_text("Read only")
    expect(page.locator("main")).to_contain_text("Your role (viewer)")
    expect(page.locator("#versions")).not_to_contain_text("Roll back")
    expect(page.locator('figure[data-chart="line"]').first).to_have_attribute("data-points", "4")  # reads stay open
    shot(page, "dashboard-viewer-model.png")
    page.goto(base_url + "/families/retention/")
    expect(page.locator("main form[method=post]")).to_have_count(0)  # no rollback, no policy form
    shot(page, "dashboard-viewer-family.png")
    # A failed htmx request says why in place (static/js/htmx-errors.js), instead of failing silently.
    page.goto(base_url + "/models/churn-risk/")
    page.evaluate("htmx.ajax('POST', '/models/churn-risk/train/', {target: '#model-main', swap: 'outerHTML'})")
    expect(page.locator("#flash-area [role=alert]")).to_contain_text("Your role (viewer) cannot do this")
    expect(page.locator("#model-main")).to_be_visible()  # the page itself is untouched
    shot(page, "dashboard-viewer-htmx-refusal.png")
    # A write forced past the page is refused with the reason, in the product's look.
    status = page.evaluate("""async () => {
        const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
        const r = await fetch('/models/churn-risk/train/', {method: 'POST', headers: {'X-CSRFToken': token}});
        return [r.status, await r.text()];
    }""")
    assert status[0] == 403 and "Your role (viewer) cannot do this" in status[1]


# ------------------------------------------------------------------- (c) the dashboard with demo data


def test_the_dashboard_with_demo_data_draws_every_chart_from_the_numbers(live_server, chromium):
    from lifecycle import selectors
    from lifecycle.models import AlgorithmModel
    from registry.experiments import experiment_timeline
    from registry.models import Experiment
    from scoring.selectors import shadow_comparison

    keys = demo_data()
    expected_counts = {field: selectors.model_counts_by(field) for field in ("state", "status", "registry_status")}
    total = AlgorithmModel.objects.count()
    churn = AlgorithmModel.objects.get(key=keys["champion"])
    versions = list(churn.versions.order_by("version_no"))
    expected_auc = {(trait, v.version_no): round(v.metrics[trait]["auc"], 4) for v in versions for trait in v.metrics}
    serving_counts = {t: m["histogram"]["counts"] for t, m in churn.active_version.metrics.items()}
    shadow = shadow_comparison(AlgorithmModel.objects.get(key="offers-epsilon"))
    timeline = experiment_timeline(Experiment.objects.get(key="homepage-bayes"))

    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst", password="analyst-demo")
        try:
            dashboard_charts(page, live_server.url, keys, expected_counts, expected_auc, serving_counts, total)
            decision_charts(page, live_server.url, shadow, timeline)
        except Exception:
            shot(page, "dashboard-demo-failure.png")
            raise


def decision_charts(page, base_url, shadow, timeline):
    """The demo's shadow against its champion, and its experiment's arms over time, drawn from the numbers."""
    from playwright.sync_api import expect

    page.goto(base_url + "/families/card-offers/")
    page.get_by_role("link", name="Compare with the champion").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Against the champion")
    assert shadow["decisions"] > 100 and shadow["outcomes"]["all"]["trials"] > 100  # the demo responded to them
    scatter = page.locator('figure[data-chart="scatter"]')
    expect(scatter).to_have_attribute("data-points", str(len(shadow["scatter"]["points"])))
    drawn = [(float(p.get_attribute("data-x")), float(p.get_attribute("data-y")))
             for p in scatter.locator(".chart-point").all()]
    assert drawn == [(p["x"], p["y"]) for p in shadow["scatter"]["points"]]
    expect(page.locator('[data-metric="agreement-top1"]')).to_contain_text(f"{100 * shadow['agreementTop1']:.1f}%")
    bars = {b.get_attribute("data-label"): float(b.get_attribute("data-value"))
            for b in page.locator('figure[data-chart="bars"] .chart-bar').all()}
    assert bars["All shown"] == round(100 * shadow["outcomes"]["all"]["rate"], 1)
    assert bars["Shadow agreed"] == round(100 * shadow["outcomes"]["agreed"]["rate"], 1)
    shot(page, "dashboard-shadow.png")

    page.goto(base_url + "/families/card-offers/")
    bands = page.locator('figure[data-chart="bands"]')
    expect(bands).to_have_attribute("data-points", str(sum(len(s["points"]) for s in timeline["series"])))
    for series in timeline["series"]:
        points = bands.locator(f'.chart-series[data-series="{series["name"]}"] .chart-point')
        last = points.nth(points.count() - 1)
        assert float(last.get_attribute("data-y")) == series["points"][-1]["y"]
        assert float(last.get_attribute("data-lo")) == series["points"][-1]["lo"]
    page.locator("#experiments").screenshot(path=str(SCREENSHOTS / "dashboard-experiment-arms.png"))


def dashboard_charts(page, base_url, keys, expected_counts, expected_auc, serving_counts, total):
    from playwright.sync_api import expect

    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    for field, counts in expected_counts.items():
        card = page.locator(f"#counts-{field}")
        figure = card.locator("figure[data-chart=bars]")
        expect(figure).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
        drawn = {bar.get_attribute("data-label"): int(bar.get_attribute("data-value"))
                 for bar in figure.locator(".chart-bar").all()}
        tiles = {link.locator(".count-label").inner_text(): int(link.locator(".count-value").inner_text())
                 for link in card.locator(".count-link").all()}
        assert drawn == tiles, field
        assert sum(drawn.values()) == sum(counts.values()) == total, field
    expect(page.locator("#dash-failed")).to_contain_text("Upsell (neural)")
    expect(page.locator("#dash-reviews")).to_contain_text(keys["challenger"])
    expect(page.locator("#dash-families")).to_contain_text(keys["champion"])
    shot(page, "dashboard-home.png")

    # Every number opens the list behind it.
    page.locator("#counts-registry_status .count-link", has_text="Champion").click()
    expect(page).to_have_url(re.compile(r"/models/\?registry_status=champion$"))
    expect(page.locator(".models-table tbody tr")).to_have_count(expected_counts["registry_status"]["champion"])
    expect(page.get_by_label("Registry")).to_have_value("champion")

    page.goto(f"{base_url}/models/{keys['champion']}/")
    auc = page.locator('figure[data-chart="line"]').first
    expect(auc).to_have_attribute("data-points", str(len(expected_auc)))
    drawn = {(p.evaluate("e => e.parentNode.getAttribute('data-series')"), int(p.get_attribute("data-x"))):
             float(p.get_attribute("data-y")) for p in auc.locator(".chart-point").all()}
    assert drawn == expected_auc
    histogram = page.locator('figure[data-chart="histogram"]')
    bars = histogram.locator(".chart-series").first.locator(".chart-bar")
    trait = histogram.locator(".chart-series").first.get_attribute("data-series")
    assert [int(b.get_attribute("data-value")) for b in bars.all()] == serving_counts[trait]
    page.locator("#charts").screenshot(path=str(SCREENSHOTS / "dashboard-model-charts.png"))

    page.get_by_role("link", name="Compare two versions").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Compare versions")
    for figure in page.locator('figure[data-chart="histogram"]').all():
        assert int(figure.get_attribute("data-points")) > 0
        assert figure.locator(".chart-series").count() == 2
    shot(page, "dashboard-compare.png")
