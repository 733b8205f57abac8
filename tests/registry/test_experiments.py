"""Experiments: the split rule, sticky assignment and results with uplift and significance."""

import pytest

from registry import experiments, stats
from registry.choices import CHAMPION_ARM, HOLDOUT_ARM
from tests.factories import make_model

pytestmark = pytest.mark.django_db

URL = "/api/v1/experiments"


@pytest.fixture
def models(analyst):
    return [make_model(analyst, key=k) for k in ("champ", "chal-a", "chal-b")]


def test_split_must_sum_to_exactly_100(api, models):
    body = {"key": "exp-1", "name": "Exp", "championModelId": "champ", "trafficSplit": {"championPct": 80},
            "challengers": [{"modelId": "chal-a", "trafficPct": 10}, {"modelId": "chal-b", "trafficPct": 5}]}
    r = api.post(URL, body, format="json")
    assert r.status_code == 400 and "must be exactly 100" in r.json()["error"]["message"]
    body["challengers"][1]["trafficPct"] = 10
    r = api.post(URL, body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["trafficSplit"] == {"championPct": 80} and len(r.json()["challengers"]) == 2
    assert api.post(URL, body, format="json").status_code == 400  # duplicate key
    r = api.put(f"{URL}/exp-1", {"challengers": [{"modelId": "chal-a", "trafficPct": 20}]}, format="json")
    assert r.status_code == 200 and [c["modelKey"] for c in r.json()["challengers"]] == ["chal-a"]
    r = api.put(f"{URL}/exp-1", {"trafficSplit": {"championPct": 90}}, format="json")
    assert r.status_code == 400
    assert api.delete(f"{URL}?id=exp-1").status_code == 204
    assert api.get(f"{URL}/exp-1").status_code == 404


def test_fnv1a_is_the_standard_32_bit_hash():
    assert stats.fnv1a_32("") == 0x811C9DC5
    assert stats.fnv1a_32("a") == 0xE40C292C
    assert stats.fnv1a_32("foobar") == 0xBF9CF968


def test_assignment_follows_the_split_and_sticks(analyst, models):
    exp = experiments.experiment_create(actor=analyst, key="sticky", name="Sticky", champion_model_id="champ",
                                        champion_pct=50, holdout_pct=10,
                                        challengers=[{"modelId": "chal-a", "trafficPct": 50}])
    arms = {c: experiments.experiment_assign(experiment=exp, customer_id=c) for c in (f"cust-{i}" for i in range(2000))}
    shares = {a: sum(1 for v in arms.values() if v == a) / len(arms) for a in (CHAMPION_ARM, "chal-a", HOLDOUT_ARM)}
    assert abs(shares[HOLDOUT_ARM] - 0.10) < 0.03
    assert abs(shares[CHAMPION_ARM] - 0.45) < 0.04 and abs(shares["chal-a"] - 0.45) < 0.04
    # Editing the split does not move customers already assigned.
    exp = experiments.experiment_update(experiment=exp, actor=analyst, champion_pct=100, challengers=[])
    assert all(experiments.experiment_assign(experiment=exp, customer_id=c) == a for c, a in list(arms.items())[:200])
    assert experiments.experiment_assign(experiment=exp, customer_id="new-customer") in (CHAMPION_ARM, HOLDOUT_ARM)


def test_results_report_uplift_wilson_and_z_test(api, analyst, models):
    exp = experiments.experiment_create(actor=analyst, key="res", name="Res", champion_model_id="champ",
                                        champion_pct=50, challengers=[{"modelId": "chal-a", "trafficPct": 50}])
    for i in range(1000):
        experiments.experiment_record_outcome(experiment=exp, arm=CHAMPION_ARM, success=i < 100)
        experiments.experiment_record_outcome(experiment=exp, arm="chal-a", success=i < 150)
    arms = {a["arm"]: a for a in api.get(f"{URL}/res/results").json()["arms"]}
    champ, chal = arms[CHAMPION_ARM], arms["chal-a"]
    assert (champ["trials"], champ["successes"], champ["rate"]) == (1000, 100, 0.1)
    assert champ["wilson95"][0] < 0.1 < champ["wilson95"][1]
    assert round(champ["wilson95"][0], 3) == 0.083 and round(champ["wilson95"][1], 3) == 0.12
    assert chal["upliftAbsolute"] == 0.05 and chal["upliftRelative"] == 0.5
    assert chal["z"] == pytest.approx(3.38, abs=0.01) and chal["pValue"] < 0.001 and chal["significant"]


def test_assign_over_the_api_and_viewer_cannot_create(api, viewer_api, models):
    api.post(URL, {"key": "e", "name": "E", "championModelId": "champ", "trafficSplit": {"championPct": 100}},
             format="json")
    r = api.post(f"{URL}/e/assign", {"customerId": "c-1"}, format="json")
    assert r.status_code == 200 and r.json()["arm"] == CHAMPION_ARM
    r = viewer_api.post(URL, {"key": "v", "name": "V"}, format="json")
    assert r.status_code == 403


@pytest.mark.parametrize("path,refused_at", [
    (["active", "paused", "active", "completed"], None),
    (["paused"], 0),                   # a draft only starts
    (["completed"], 0),
    (["active", "draft"], 1),          # a run experiment never goes back to draft
    (["active", "completed", "active"], 2),  # completed is final
])
def test_status_changes_follow_the_lifecycle(api, models, path, refused_at):
    assert api.post(URL, {"key": "life", "name": "Life", "championModelId": "champ",
                          "trafficSplit": {"championPct": 100}}, format="json").status_code == 201
    for i, to in enumerate(path):
        r = api.put(f"{URL}/life", {"status": to}, format="json")
        if i == refused_at:
            assert r.status_code == 409, r.content
            error = r.json()["error"]
            assert error["code"] == "invalid_status_change" and error["details"]["to"] == to
            assert "Life is" in error["message"]
            break
        assert r.status_code == 200 and r.json()["status"] == to, r.content


def test_only_a_draft_is_deleted_and_the_refusal_is_the_page_s_sentence(api, analyst, models):
    exp = experiments.experiment_create(actor=analyst, key="ran", name="Ran", champion_model_id="champ",
                                        champion_pct=100)
    experiments.experiment_update(experiment=exp, actor=analyst, status="active")
    r = api.delete(f"{URL}/ran")
    assert r.status_code == 409 and r.json()["error"]["code"] == "experiment_has_run"
    assert r.json()["error"]["message"] == experiments.delete_refusal(experiments.experiment_get("ran"))
    assert api.delete(f"{URL}?id=ran").status_code == 409
    assert api.get(f"{URL}/ran").status_code == 200
    r = api.post(URL, {"key": "late", "name": "Late", "championModelId": "champ", "status": "completed",
                       "trafficSplit": {"championPct": 100}}, format="json")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "status"
