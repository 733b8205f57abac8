"""A version's page in a real browser: the plotted ROC, precision-recall and calibration points are the stored
evaluation's numbers, the confusion rows are the selector's; three versions compared from the versions list."""

from __future__ import annotations

import pytest

from tests.e2e.pages import SCREENSHOTS, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def three_versions():
    from lifecycle import selectors, services
    from tests.factories import add_samples, make_model, make_user

    analyst = make_user("analyst")
    model = make_model(analyst, key="churn-risk", traits=("churn",))
    add_samples(model, analyst, n=300, noise=0.1)
    for _ in range(3):
        run = services.model_train_enqueue(model=model, actor=analyst)
        services.run_execute(run_id=run.pk)
    model.refresh_from_db()
    versions = {v.version_no: selectors.version_get(model=model, version_no=v.version_no) for v in model.versions.all()}
    return model, versions


def plotted(page, kind: str) -> list[tuple[float, float]]:
    figure = page.locator(f'figure[data-kind="{kind}"]').first
    return [(float(x), float(y)) for x, y in figure.locator(".chart-point").evaluate_all(
        "els => els.map(e => [e.getAttribute('data-x'), e.getAttribute('data-y')])")]


def test_a_version_page_plots_its_stored_evaluation_and_three_versions_compare(live_server, chromium):
    from playwright.sync_api import expect

    from lifecycle import selectors

    model, versions = three_versions()
    v3 = selectors.version_evaluation(versions[3])[0]
    with chromium() as browser:
        page = log_in(browser, live_server.url, "analyst")
        page.goto(f"{live_server.url}/models/{model.key}/versions/")
        page.get_by_role("link", name="v3").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("v3")
        for kind in ("roc", "pr", "calibration"):
            expect(page.locator(f'figure[data-kind="{kind}"]')).to_have_attribute(
                "data-points", str(len(v3["curves"][kind])))
            assert plotted(page, kind) == [(p["x"], p["y"]) for p in v3["curves"][kind]], kind
        bars = page.locator('figure[data-kind="distribution"] .chart-bar').evaluate_all(
            "els => els.map(e => +e.getAttribute('data-value'))")
        assert bars == v3["curves"]["distribution"]["positives"] + v3["curves"]["distribution"]["negatives"]
        for c in v3["curves"]["confusion"]:
            row = page.locator(f'.confusion-table tr[data-tier="{c["tier"]}"]')
            expect(row).to_contain_text(f'{c["tp"]:,}')
            expect(row).to_contain_text(f'{c["tn"]:,}')
        page.screenshot(path=str(SCREENSHOTS / "version-page.png"), full_page=True)

        page.get_by_label("What changed, why this version exists, what to watch").fill("Third retrain, same data.")
        page.get_by_role("button", name="Save notes").click()
        expect(page.locator("#notes")).to_contain_text("Saved the notes of v3")
        expect(page.get_by_label("What changed, why this version exists, what to watch")).to_have_value(
            "Third retrain, same data.")

        page.goto(f"{live_server.url}/models/{model.key}/versions/")
        for n in (1, 2, 3):
            page.get_by_label(f"Compare v{n}").check()
        page.get_by_role("button", name="Compare the ticked versions").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Compare versions")
        roc = page.locator('figure[data-chart="curve"]').first
        expect(roc.locator(".chart-series")).to_have_count(3)
        expect(roc).to_have_attribute("data-points", str(sum(
            len(selectors.version_evaluation(versions[n])[0]["curves"]["roc"]) for n in (1, 2, 3))))
        for n in (1, 2, 3):
            auc = versions[n].metrics["churn"]["auc"]
            expect(page.locator(f'tr[data-version="{n}"] .auc')).to_have_text(f"{auc:.3f}")
        page.screenshot(path=str(SCREENSHOTS / "compare-three-versions.png"), full_page=True)
