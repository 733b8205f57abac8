"""A trace's candidate results are stored compactly and read, by the API, the trace page and the shadow
comparison, exactly as when they were stored one dict per candidate; traces stored that way still read the same."""

from __future__ import annotations

import json
import random
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse

from scoring import selectors, services
from scoring.models import DecisionTrace, Recommendation, expand_results
from scoring.services.decisions import _scoring_results
from tests.scoring.conftest import live_model, make_catalog


def _old_scoring_results(offers, scored, ranks, scorer, arm, shadows) -> list[dict]:
    """`_scoring_results` as it was before the compact form (1 December 2026): the reference."""
    model_key, model_type, version_no = scorer.model.key, scorer.model.model_type, scorer.version.version_no
    arm = arm or None
    shadow_ids = [(s.model.key, s.version.version_no, vals) for s, vals in shadows]
    return [{
        "offerId": o.key, "score": round(propensity, 6), "rank": ranks.get(i), "modelKey": model_key,
        "modelType": model_type, "versionNo": version_no, "propensitySource": source, "why": why, "arm": arm,
        "shadowScores": [{"modelKey": key, "versionNo": no, "score": round(vals[i][0], 6),
                          "propensitySource": vals[i][1]} for key, no, vals in shadow_ids] if shadow_ids else [],
    } for i, (o, (propensity, source, why, _)) in enumerate(zip(offers, scored))]


def _scorer(key: str, model_type: str, version_no: int):
    return SimpleNamespace(model=SimpleNamespace(key=key, model_type=model_type),
                           version=SimpleNamespace(version_no=version_no))


def _inputs(n: int, *, shadows: int, seed: int = 0, keys: list[str] | None = None):
    """Candidates as recommend scores them: the offers, (propensity, source, why, key) each, the ranks of the
    five shown, the deciding scorer and the shadows' scores."""
    rng = random.Random(seed)
    offers = [SimpleNamespace(key=k) for k in (keys or [f"offer-{i}" for i in range(n)])]

    def scored():
        out = []
        for i in range(n):
            p = rng.choice([rng.random(), 0.5, 1.0, 0.1 + 0.2])
            source = rng.choice(["offer", "category", "channel", "default", "model", "holdout"])
            out.append((p, source, f"{source}: {p:.3f} — «why» {i}" if i % 7 else "", rng.random()))
        return out

    ranks = {i: r + 1 for r, i in enumerate(rng.sample(range(n), min(5, n)))}
    shadow_list = [(_scorer(f"shadow-{j}", "bayesian", j + 2), scored()) for j in range(shadows)]
    return offers, scored(), ranks, _scorer("nbo", "thompson_bandit", 3), shadow_list


def _jsonb_order(keys) -> list[str]:
    return sorted(keys, key=lambda k: (len(k), k.encode()))


@pytest.mark.parametrize("n", [10, 200])
@pytest.mark.parametrize("arm", ["", "__champion__", "__holdout__", "challenger-x"])
@pytest.mark.parametrize("shadows", [0, 2])
def test_the_compact_form_expands_to_what_was_stored_before(n, arm, shadows):
    args = _inputs(n, shadows=shadows, seed=n + shadows)
    before = _old_scoring_results(*args[:4], arm, args[4])
    stored = _scoring_results(*args[:4], arm, args[4])
    assert json.loads(json.dumps(stored)) == stored  # what the column holds
    # As the others keep the keys: the order written.
    assert json.dumps(expand_results(stored, "sqlite")) == json.dumps(before)
    # As PostgreSQL's jsonb gave the dicts back: keys by length, then bytewise.
    jsonb = [{k: {**r, "shadowScores": [{sk: s[sk] for sk in _jsonb_order(s)} for s in r["shadowScores"]]}[k]
              for k in _jsonb_order(r)} for r in before]
    assert json.dumps(expand_results(stored, "postgresql")) == json.dumps(jsonb)
    assert len(json.dumps(stored)) < len(json.dumps(before))
    assert expand_results(before, "postgresql") == before and expand_results([]) == [] == expand_results(None)


def _copy(trace: DecisionTrace, *, pk: int, rec_id: str, scoring_results) -> DecisionTrace:
    """The trace and its recommendation again, under other ids, with these candidate results."""
    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key}

    twin = Recommendation.objects.create(**fields(trace.recommendation) | {"recommendation_id": rec_id})
    return DecisionTrace.objects.create(**fields(trace) | {"id": pk, "recommendation_id": twin.pk,
                                                           "scoring_results": scoring_results})


def _same_but_ids(a: bytes, b: bytes, ids_a: tuple, ids_b: tuple) -> tuple[str, str]:
    a, b = a.decode(), b.decode()
    for x, y in zip(ids_a, ids_b):
        a, b = a.replace(str(x), "<id>"), b.replace(str(y), "<id>")
    # What differs between two requests: the CSRF token and how long ago ("now", "a second ago").
    varies = re.compile(r'(csrfmiddlewaretoken" value="|csrf-token" content="|"X-CSRFToken": "|" title=")[^"]+')
    return varies.sub(r"\1", a), varies.sub(r"\1", b)


@pytest.mark.django_db
@pytest.mark.parametrize("n", [10, 200])
def test_the_api_and_the_page_show_a_compact_trace_as_an_old_one(api, as_analyst, admin_user, n):
    offers = make_catalog(n)
    live_model(admin_user, key="nbo", model_type="thompson_bandit")
    live_model(admin_user, key="shadow-ts", model_type="thompson_bandit", rung="shadow")
    live_model(admin_user, key="shadow-b", model_type="bayesian", rung="shadow")
    rec = services.recommend(actor=admin_user, customer_id="c1", family="offers", limit=5)
    real = DecisionTrace.objects.get(recommendation=rec)
    assert isinstance(real.scoring_results, dict) and len(real.scoring_results["shadows"]) == 2
    for arm in ("", "challenger-x"):
        args = _inputs(n, shadows=2, seed=n, keys=[o.key for o in offers])
        old = _copy(real, pk=987650 + len(arm), rec_id=f"rec-old-{arm}",
                    scoring_results=_old_scoring_results(*args[:4], arm, args[4]))
        new = _copy(real, pk=987660 + len(arm), rec_id=f"rec-new-{arm}",
                    scoring_results=_scoring_results(*args[:4], arm, args[4]))
        got = {}
        for t in (old, new):
            t.refresh_from_db()
            got[t.pk] = (api.get(f"/api/v1/decision-traces/{t.pk}").content,
                         as_analyst.get(reverse("scoring:trace-detail", args=[t.pk])).content)
        ids_old, ids_new = (old.pk, f"rec-old-{arm}"), (new.pk, f"rec-new-{arm}")
        for a, b in zip(got[old.pk], got[new.pk]):
            a, b = _same_but_ids(a, b, ids_old, ids_new)
            assert a == b
        # An old row reads as it was stored, key order included.
        answer = json.loads(got[old.pk][0])["scoringResults"]
        assert json.dumps(answer) == json.dumps(old.scoring_results)
        assert old.candidate_results() == old.scoring_results
        assert new.candidate_results() == old.scoring_results
        assert json.dumps(new.candidate_results()) == json.dumps(expand_results(new.scoring_results,
                                                                                connection.vendor))


@pytest.mark.django_db
def test_the_shadow_comparison_reads_old_and_compact_traces_alike(admin_user):
    make_catalog(10)
    live_model(admin_user, key="nbo", model_type="bayesian")
    shadow = live_model(admin_user, key="shadow-ts", model_type="thompson_bandit", rung="shadow")
    for i in range(6):
        services.recommend(actor=admin_user, customer_id=f"c{i}", family="offers", limit=3)
    compact = selectors.shadow_comparison(shadow)
    assert compact["decisions"] == 6
    for t in DecisionTrace.objects.all():  # the same traces, stored one dict per candidate
        DecisionTrace.objects.filter(pk=t.pk).update(scoring_results=t.candidate_results())
    assert all(isinstance(r, list) for r in DecisionTrace.objects.values_list("scoring_results", flat=True))
    assert selectors.shadow_comparison(shadow) == compact
