"""Lists that scale: models, runs, versions and samples sort, filter and paginate on the server, and a
page of 100,000 samples or decision traces costs the same queries as a page of 10."""

from __future__ import annotations

import datetime
import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lifecycle import selectors, services
from lifecycle.core.listing import SortBy, clean_query, paginate
from lifecycle.models import AlgorithmModel, ModelVersion, Sample, TrainingRun, VersionTag
from tests.bulk import bulk_samples, bulk_traces
from tests.factories import add_samples, make_model, ready_model, train_now

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SCALE = 100_000


def html(response) -> str:
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def tbody(response) -> str:
    """The rows of the page's (first) table body."""
    page = html(response)
    return page[page.index("<tbody>"):page.index("</tbody>")]


def url(name: str, model, **query) -> str:
    q = clean_query(query)
    return reverse(f"lifecycle:{name}", args=[model.key]) + (f"?{q}" if q else "")


# --------------------------------------------------------------------------------------------- the helper


def test_the_listing_helper_orders_by_the_whitelist_and_falls_back_on_a_bad_sort(analyst):
    for key, name in (("b", "Bravo"), ("a", "Alpha"), ("c", "Charlie")):
        make_model(analyst, key=key)
        AlgorithmModel.objects.filter(key=key).update(name=name)
    sorts = {"name": SortBy("Name", "name"), "created": SortBy("Created", "created_at", kind="date")}
    qs = AlgorithmModel.objects.all()

    listing = paginate(qs, sort="-name", page=None, sorts=sorts, default="name")
    assert [m.name for m in listing.page] == ["Charlie", "Bravo", "Alpha"]
    assert listing.sort.param == "-name" and listing.sort.descending

    for bad in ("password", "-", "name__icontains", "-id", "", None, "?", "created_at"):
        listing = paginate(qs, sort=bad, page=None, sorts=sorts, default="name")
        assert listing.sort.param == "name", bad
        assert [m.name for m in listing.page] == ["Alpha", "Bravo", "Charlie"]

    # The primary key breaks ties, in the same direction, so pages never overlap.
    AlgorithmModel.objects.update(name="same")
    ids = sorted(AlgorithmModel.objects.values_list("id", flat=True))
    assert [m.pk for m in paginate(qs, sort="name", page=1, sorts=sorts, default="name").page] == ids
    assert [m.pk for m in paginate(qs, sort="-name", page=1, sorts=sorts, default="name").page] == ids[::-1]

    for bad_page in ("abc", "0", "-3", "999", "1.5", ""):
        assert paginate(qs, sort=None, page=bad_page, sorts=sorts, default="name", per_page=2).page.number in (1, 2)

    choices = paginate(qs, sort="-created", page=1, sorts=sorts, default="name").choices
    assert ("-created", "Created, newest first", True) in choices and ("name", "Name, A to Z", False) in choices


# --------------------------------------------------------------------------------------------- models


@pytest.fixture
def three_models(analyst):
    now = timezone.now()
    rows = (("m-beta", "Beta", 30), ("m-alpha", "Alpha", 10), ("m-gamma", "Gamma", 20))
    for i, (key, name, samples) in enumerate(rows):
        make_model(analyst, key=key)
        AlgorithmModel.objects.filter(key=key).update(name=name, training_samples=samples,
                                                      updated_at=now - datetime.timedelta(days=i))
    return ["m-beta", "m-alpha", "m-gamma"]


def model_keys(response) -> list[str]:
    return re.findall(r'<code class="muted small">([^<]+)</code>', tbody(response))


def test_the_models_list_sorts_by_each_key(as_analyst, three_models):
    base = reverse("lifecycle:model-list")
    assert model_keys(as_analyst.get(base + "?sort=name")) == ["m-alpha", "m-beta", "m-gamma"]
    assert model_keys(as_analyst.get(base + "?sort=-name")) == ["m-gamma", "m-beta", "m-alpha"]
    assert model_keys(as_analyst.get(base + "?sort=key")) == ["m-alpha", "m-beta", "m-gamma"]
    assert model_keys(as_analyst.get(base + "?sort=-samples")) == ["m-beta", "m-gamma", "m-alpha"]
    assert model_keys(as_analyst.get(base + "?sort=-updated")) == ["m-beta", "m-alpha", "m-gamma"]
    # The default is still newest first.
    assert model_keys(as_analyst.get(base)) == ["m-gamma", "m-alpha", "m-beta"]


def test_the_sorted_header_says_so_and_its_link_reverses_keeping_the_filter(as_analyst, three_models):
    page = html(as_analyst.get(reverse("lifecycle:model-list") + "?sort=name&state=draft&search=m-&page=1"))
    header = re.search(r'<th scope="col" aria-sort="ascending"[^>]*><a href="([^"]+)"[^>]*>Model'
                       r'<span class="sort-arrow" aria-hidden="true">▲</span>', page)
    assert header, "the name column is marked as sorted, with an arrow"
    link = header.group(1).replace("&amp;", "&")
    assert "sort=-name" in link and "state=draft" in link and "search=m-" in link and "page=" not in link
    assert page.count("aria-sort=") == 1
    assert model_keys(as_analyst.get(link)) == ["m-gamma", "m-beta", "m-alpha"]


def test_the_models_list_keeps_filtering_and_answers_htmx_with_the_results_only(as_analyst, three_models):
    AlgorithmModel.objects.filter(key="m-beta").update(state="archived")
    response = as_analyst.get(reverse("lifecycle:model-list") + "?state=draft&sort=name&search=", **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and page.lstrip().startswith('<div id="results">')
    assert model_keys(response) == ["m-alpha", "m-gamma"]
    assert response["HX-Push-Url"] == "/models/?state=draft&sort=name"
    assert "2 models match" in page


def test_bad_sort_and_page_parameters_never_fail_a_list(as_analyst, analyst, capture):
    model = ready_model(analyst, capture)
    for name in ("run-list", "version-list", "sample-list"):
        for query in ({"sort": "nope"}, {"sort": "-"}, {"sort": "id;drop"}, {"page": "abc"}, {"page": "-1"},
                      {"page": "99999"}, {"page": "0"}, {"sort": "-" * 300, "page": "9" * 40},
                      {"status": "bogus", "kind": "x", "tag": "nope", "trait": "zz", "label": "maybe"}):
            response = as_analyst.get(url(name, model, **query))
            assert response.status_code == 200, (name, query)
    for query in ({"sort": "bogus"}, {"page": "x"}, {"state": "nope"}):
        assert as_analyst.get(reverse("lifecycle:model-list") + "?" + clean_query(query)).status_code == 200


def test_the_list_pages_answer_404_for_an_unknown_model(as_analyst):
    for name in ("run-list", "version-list", "sample-list"):
        response = as_analyst.get(reverse(f"lifecycle:{name}", args=["no-such-model"]))
        assert response.status_code == 404
        assert as_analyst.get(reverse(f"lifecycle:{name}", args=["999999"]), **HTMX).status_code == 404


# --------------------------------------------------------------------------------------------- runs


@pytest.fixture
def runs(analyst):
    """Finished runs with known durations and kinds, written as rows (the runs page only reads them)."""
    model = make_model(analyst, key="runs-model")
    start = timezone.now() - datetime.timedelta(days=1)
    rows = {}
    for i, (kind, status, seconds) in enumerate((("train", "succeeded", 30), ("retrain", "failed", 5),
                                                 ("retune", "succeeded", 90), ("retrain", "succeeded", 60))):
        started = start + datetime.timedelta(hours=i)
        run = TrainingRun.objects.create(model=model, kind=kind, status=status, queued_at=started, started_at=started,
                                         finished_at=started + datetime.timedelta(seconds=seconds), started_by=analyst,
                                         error="boom" if status == "failed" else "")
        rows[seconds] = run.pk
    return model, rows


def run_ids(response) -> list[int]:
    return [int(x) for x in re.findall(r'<tr>\s*<td class="num"><a [^>]*>(\d+)</a></td>', tbody(response))]


def test_the_runs_page_sorts_by_duration_started_finished_and_status(as_analyst, runs):
    model, by_seconds = runs
    assert run_ids(as_analyst.get(url("run-list", model, sort="duration"))) == [by_seconds[s] for s in (5, 30, 60, 90)]
    assert run_ids(as_analyst.get(url("run-list", model, sort="-duration"))) == [by_seconds[s] for s in (90, 60, 30, 5)]
    started = [by_seconds[s] for s in (30, 5, 90, 60)]  # the order they were started in
    assert run_ids(as_analyst.get(url("run-list", model, sort="started"))) == started
    assert run_ids(as_analyst.get(url("run-list", model))) == started[::-1]  # newest first by default
    assert run_ids(as_analyst.get(url("run-list", model, sort="-finished")))[0] == by_seconds[60]
    assert run_ids(as_analyst.get(url("run-list", model, sort="status")))[0] == by_seconds[5]  # failed < succeeded


def test_the_runs_page_filters_by_status_and_kind(as_analyst, runs):
    model, by_seconds = runs
    assert run_ids(as_analyst.get(url("run-list", model, status="failed"))) == [by_seconds[5]]
    assert set(run_ids(as_analyst.get(url("run-list", model, kind="retrain")))) == {by_seconds[5], by_seconds[60]}
    assert run_ids(as_analyst.get(url("run-list", model, kind="retrain", status="succeeded"))) == [by_seconds[60]]
    page = html(as_analyst.get(url("run-list", model, kind="discover")))
    assert "No runs match this filter" in page
    # The sort survives a filter: it is sent with the filter form.
    response = as_analyst.get(url("run-list", model, kind="retrain", sort="duration"), **HTMX)
    assert run_ids(response) == [by_seconds[5], by_seconds[60]]
    assert "<html" not in response.content.decode() and 'form="run-filter"' in response.content.decode()
    assert response["HX-Push-Url"].endswith("?kind=retrain&sort=duration")


def test_a_run_in_flight_sorts_last_by_duration_and_finish(as_analyst, runs):
    model, by_seconds = runs
    running = TrainingRun.objects.create(model=model, kind="retrain", status="running", started_at=timezone.now())
    assert run_ids(as_analyst.get(url("run-list", model, sort="-duration")))[-1] == running.pk
    assert run_ids(as_analyst.get(url("run-list", model, sort="duration")))[-1] == running.pk
    assert run_ids(as_analyst.get(url("run-list", model, sort="-started")))[0] == running.pk


def test_the_runs_page_paginates_25_a_page_keeping_the_filter(as_analyst, analyst):
    model = make_model(analyst, key="many-runs")
    TrainingRun.objects.bulk_create([TrainingRun(model=model, kind="train", status="failed") for _ in range(30)])
    first = as_analyst.get(url("run-list", model, status="failed", sort="id"))
    assert len(run_ids(first)) == 25 and "Page 1 of 2" in html(first) and "30 runs match" in html(first)
    next_link = re.search(r'<a class="btn btn-small" href="([^"]+)"[^>]*rel="next"', html(first)).group(1)
    assert "status=failed" in next_link and "sort=id" in next_link and "page=2" in next_link
    second = as_analyst.get(next_link.replace("&amp;", "&"))
    assert len(run_ids(second)) == 5 and run_ids(second) == sorted(run_ids(second))
    assert set(run_ids(first)).isdisjoint(run_ids(second))


# --------------------------------------------------------------------------------------------- versions


def _version(model, no, *, samples, created, auc=0.7):
    return ModelVersion.objects.create(model=model, version_no=no, triggered_by="retrain", param_hash="x",
                                       sample_count=samples, trait_keys=["churn"], created_at=created,
                                       metrics={"churn": {"auc": auc, "logLoss": 0.5}}, artifact_sha256="0" * 64)


def version_numbers(response) -> list[int]:
    return [int(x) for x in re.findall(r'<strong class="version-no">v(\d+)</strong>', tbody(response))]


def test_the_versions_page_sorts_and_filters_by_tag(as_analyst, analyst):
    model = make_model(analyst, key="versions-model")
    now = timezone.now()
    for no, samples, days_ago in ((1, 300, 5), (2, 100, 4), (3, 200, 1), (4, 50, 2)):
        _version(model, no, samples=samples, created=now - datetime.timedelta(days=days_ago), auc=0.6 + no / 100)
    for no, name in ((2, "prod"), (4, "candidate")):
        VersionTag.objects.create(model=model, version=ModelVersion.objects.get(model=model, version_no=no), name=name)

    assert version_numbers(as_analyst.get(url("version-list", model))) == [4, 3, 2, 1]
    assert version_numbers(as_analyst.get(url("version-list", model, sort="number"))) == [1, 2, 3, 4]
    assert version_numbers(as_analyst.get(url("version-list", model, sort="-samples"))) == [1, 3, 2, 4]
    assert version_numbers(as_analyst.get(url("version-list", model, sort="-created"))) == [3, 4, 2, 1]
    response = as_analyst.get(url("version-list", model, tag="prod"))
    assert version_numbers(response) == [2]
    assert "1 version matches" in html(response)
    page = html(as_analyst.get(url("version-list", model)))
    assert '<option value="candidate">candidate</option>' in page and "0.640" in page  # tags to filter by; AUC


def test_the_versions_page_shows_what_serves_and_its_actions_come_back_to_it(as_analyst, analyst, capture):
    model = ready_model(analyst, capture)
    train_now(model, analyst, capture)  # v2 serves
    listing_url = url("version-list", model, sort="number")
    page = html(as_analyst.get(listing_url))
    assert "Serving <strong>v2</strong>" in page
    assert re.search(r'<tr class="is-active">\s*(?:<td class="select-cell">.*?</td>\s*)?<th scope="row"><a class="version-link" href="[^"]+"><strong class="version-no">v2</strong></a> '
                     r'<span class="badge badge-ready">serving</span>', page)
    assert 'name="next" value="/models/churn-risk/versions/?sort=number"' in page

    # The same forms as the model page, answered by the same views; they return to the list.
    tag = as_analyst.post(reverse("lifecycle:version-tag", args=[model.key, 1]),
                          {"name": "baseline", "next": listing_url})
    assert tag.status_code == 302 and tag["Location"] == listing_url + "#versions"
    page = html(as_analyst.get(tag["Location"]))
    assert "Tagged v1 as baseline." in page and '<span class="badge badge-outline">baseline</span>' in page

    back = as_analyst.post(reverse("lifecycle:version-activate", args=[model.key, 1]), {"next": listing_url})
    assert back["Location"] == listing_url + "#versions"
    model.refresh_from_db()
    assert model.active_version.version_no == 1 and model.pinned
    page = html(as_analyst.get(listing_url))
    assert "Pinned to <strong>v1</strong>" in page and "Serving <strong>v1</strong> (pinned)" in page

    # A `next` that leaves the site is ignored: back to the model page.
    away = as_analyst.post(reverse("lifecycle:model-unpin", args=[model.key]), {"next": "https://evil.example/"})
    assert away["Location"] == reverse("lifecycle:model-detail", args=[model.key]) + "#versions"
    away = as_analyst.post(reverse("lifecycle:version-tag", args=[model.key, 2]),
                           {"name": "x", "next": "//evil.example/"})
    assert away["Location"].startswith("/models/churn-risk/#")


def test_a_viewer_sees_the_versions_without_their_actions(client, viewer, analyst, capture):
    model = ready_model(analyst, capture)
    client.force_login(viewer)
    page = html(client.get(url("version-list", model)))
    assert "v1" in page and "version-activate" not in page and 'class="tag-form"' not in page


# --------------------------------------------------------------------------------------------- samples


@pytest.fixture
def labelled(analyst):
    model = make_model(analyst, key="labelled", traits=("churn", "upsell"))
    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"content": "cancel my account", "features": {"tenure": 2}, "labels": {"churn": "positive"}, "weight": 2.0},
        {"content": "love it", "features": {"tenure": 40}, "labels": {"churn": "negative", "upsell": "positive"}},
        {"content": "maybe leaving soon", "features": {"tenure": 9}, "labels": {"churn": 0.7}, "weight": 0.5},
        {"content": "wants the pro plan", "features": {"plan": "basic"}, "labels": {"upsell": "positive"},
         "weight": 3.0},
    ])
    return model


def sample_ids(response) -> list[int]:
    return [int(x) for x in re.findall(r'<td class="num muted">(\d+)</td>', tbody(response))]


def test_the_samples_page_lists_filters_and_sorts(as_analyst, labelled):
    ids = list(Sample.objects.filter(model=labelled).order_by("id").values_list("id", flat=True))
    assert sample_ids(as_analyst.get(url("sample-list", labelled))) == ids[::-1]  # newest first
    assert sample_ids(as_analyst.get(url("sample-list", labelled, sort="id"))) == ids
    assert sample_ids(as_analyst.get(url("sample-list", labelled, sort="-weight"))) == [ids[3], ids[0], ids[1], ids[2]]
    assert sample_ids(as_analyst.get(url("sample-list", labelled, sort="weight")))[0] == ids[2]

    assert sample_ids(as_analyst.get(url("sample-list", labelled, trait="churn", label="positive"))) == [ids[2], ids[0]]
    assert sample_ids(as_analyst.get(url("sample-list", labelled, trait="churn", label="negative"))) == [ids[1]]
    assert sample_ids(as_analyst.get(url("sample-list", labelled, trait="churn"))) == [ids[2], ids[1], ids[0]]
    upsell = as_analyst.get(url("sample-list", labelled, trait="upsell", label="positive"))
    assert sample_ids(upsell) == [ids[3], ids[1]]
    assert sample_ids(as_analyst.get(url("sample-list", labelled, search="LEAV"))) == [ids[2]]
    response = as_analyst.get(url("sample-list", labelled, search="a", trait="churn", sort="id"), **HTMX)
    assert sample_ids(response) == [ids[0], ids[2]]
    assert response.content.decode().lstrip().startswith('<div id="results">')

    page = html(as_analyst.get(url("sample-list", labelled, sort="id")))
    assert "<code>tenure=2</code>" in page and "churn:</span> positive" in page and "upsell:</span> positive" in page
    note = html(as_analyst.get(url("sample-list", labelled, label="positive")))
    assert "A label filter needs a trait" in note


def test_the_samples_page_shows_50_a_page(as_analyst, analyst):
    model = make_model(analyst)
    add_samples(model, analyst, n=120)
    first = as_analyst.get(url("sample-list", model))
    assert len(sample_ids(first)) == 50 and "Page 1 of 3" in html(first) and "120 samples" in html(first)
    last = as_analyst.get(url("sample-list", model, page=3))
    assert len(sample_ids(last)) == 20


def test_posting_to_the_samples_address_still_adds_a_sample(as_analyst, analyst):
    model = make_model(analyst)
    response = as_analyst.post(reverse("lifecycle:sample-list", args=[model.key]),
                               {"content": "hello", "features": "", "trait": "churn", "label": "positive"})
    assert response.status_code == 302 and response["Location"].endswith("#samples")
    assert reverse("lifecycle:sample-list", args=[model.key]) == reverse("lifecycle:sample-add", args=[model.key])
    assert Sample.objects.filter(model=model, content="hello").count() == 1
    assert as_analyst.put(reverse("lifecycle:sample-list", args=[model.key])).status_code == 405


def test_a_viewer_may_list_samples_but_not_add_them(client, viewer, analyst):
    model = make_model(analyst)
    add_samples(model, analyst, n=3)
    client.force_login(viewer)
    assert len(sample_ids(client.get(url("sample-list", model)))) == 3
    response = client.post(url("sample-add", model), {"content": "x", "trait": "churn", "label": "positive"})
    assert response.status_code == 403 and Sample.objects.filter(model=model).count() == 3


def test_the_model_page_links_to_every_list(as_analyst, analyst, capture):
    model = ready_model(analyst, capture)
    page = html(as_analyst.get(reverse("lifecycle:model-detail", args=[model.key])))
    assert f'href="/models/{model.key}/samples/">All 80 samples</a>' in page
    assert f'href="/models/{model.key}/runs/">All 1 run</a>' in page
    assert f'href="/models/{model.key}/versions/">All 1 version</a>' in page
    # The version table on the model page is the shared partial, without sortable headers.
    assert '<strong class="version-no">v1</strong>' in page and "aria-sort" not in page


# --------------------------------------------------------------------------------------------- scale


def _measure(client, path: str) -> tuple[list[dict], str, float]:
    client.get(path)  # warm: the session, the templates
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
    return list(ctx.captured_queries), html(response), elapsed


def _row_fetches(queries: list[dict], table: str) -> list[str]:
    """The SELECTs that read rows of `table` (not counts, not existence checks)."""
    out = []
    for q in queries:
        sql = q["sql"]
        if sql.lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in sql and "COUNT(" not in sql.upper():
            out.append(sql)
    return out


def _shape(queries: list[dict]) -> list[str]:
    """Queries without their literal values, to compare two pages' plans."""
    return [re.sub(r"\b\d+\b", "N", re.sub(r"'[^']*'", "S", q["sql"])) for q in queries]


@pytest.mark.scale
def test_a_page_of_100000_samples_costs_what_a_page_of_10_does(as_analyst, analyst):
    small, big = make_model(analyst, key="small"), make_model(analyst, key="big")
    bulk_samples(small, 10)
    started = time.perf_counter()
    bulk_samples(big, SCALE)
    setup = time.perf_counter() - started

    small_queries, _, small_s = _measure(as_analyst, url("sample-list", small))
    big_queries, page, big_s = _measure(as_analyst, url("sample-list", big))
    assert len(re.findall(r'<td class="num muted">', page)) == 50
    assert "Page 1 of 2,000" in page and "100,000 samples" in page
    assert len(big_queries) == len(small_queries), "\n".join(q["sql"] for q in big_queries)
    assert _shape(big_queries) == _shape(small_queries)
    fetches = _row_fetches(big_queries, Sample._meta.db_table)
    assert fetches and all(re.search(r"\bLIMIT 50\b", sql) for sql in fetches), fetches
    # A deep page and another sort: still one window of rows.
    for query in ({"page": "1000"}, {"sort": "-weight"}, {"trait": "churn", "label": "positive", "page": "7"}):
        queries, page, _ = _measure(as_analyst, url("sample-list", big, **query))
        assert len(queries) == len(small_queries)
        assert len(re.findall(r'<td class="num muted">', page)) == 50
        assert all(re.search(r"\bLIMIT 50\b", sql) for sql in _row_fetches(queries, Sample._meta.db_table))
    print(f"\nsamples: setup {setup:.1f} s, page of 10 {small_s * 1000:.1f} ms, "
          f"page of {SCALE:,} {big_s * 1000:.1f} ms")


@pytest.mark.scale
def test_a_page_of_100000_decision_traces_costs_what_a_page_of_10_does(as_analyst, analyst):
    from scoring.models import DecisionTrace

    path = reverse("scoring:trace-list")
    bulk_traces(10, model_key="m")
    small_queries, page, small_s = _measure(as_analyst, path)
    rows_small = page.count("Why these offers</a>")
    DecisionTrace.objects.all().delete()

    started = time.perf_counter()
    bulk_traces(SCALE, model_key="m")
    setup = time.perf_counter() - started
    big_queries, page, big_s = _measure(as_analyst, path)
    per_page = page.count("Why these offers</a>")
    assert rows_small == 10 and 0 < per_page < 100
    assert "100,000 traces" in page
    assert len(big_queries) == len(small_queries), "\n".join(q["sql"] for q in big_queries)
    assert _shape(big_queries) == _shape(small_queries)
    # Pages by keyset: one row more than a page tells whether there is an older one.
    fetches = _row_fetches(big_queries, DecisionTrace._meta.db_table)
    assert fetches and all(re.search(rf"\bLIMIT {per_page + 1}\b", sql) for sql in fetches), fetches
    from lifecycle.core.listing import Sort, encode_cursor

    last = DecisionTrace.objects.order_by("-created_at", "-pk")[(SCALE // per_page // 2 - 1) * per_page - 1]
    deep = encode_cursor(Sort("created", True), last.created_at, last.pk)  # what page 2,000's Older link names
    deep_queries, page, _ = _measure(as_analyst, f"{path}?after={deep}")
    assert len(deep_queries) == len(small_queries) and page.count("Why these offers</a>") == per_page
    deep_fetches = _row_fetches(deep_queries, DecisionTrace._meta.db_table)
    assert deep_fetches and all(re.search(rf"\bLIMIT {per_page + 1}\b", sql) and "OFFSET" not in sql
                                for sql in deep_fetches)
    print(f"\ntraces: setup {setup:.1f} s, page of 10 {small_s * 1000:.1f} ms, "
          f"page of {SCALE:,} {big_s * 1000:.1f} ms")


def test_the_selectors_filter_without_loading_rows(analyst):
    model = make_model(analyst, key="sel", traits=("churn",))
    bulk_samples(model, 40)
    assert selectors.sample_list(model=model, trait="churn", label="positive").count() == 20
    assert selectors.sample_list(model=model, trait="churn", label="negative").count() == 20
    assert selectors.sample_list(model=model, trait="nope").count() == 0
    assert selectors.sample_list(model=model, search="sample 3").count() == 11  # 3, 30..39
    assert selectors.run_list(model=model, kind="train").count() == 0
