"""Lists that scale: models, runs, versions and samples sort, filter and paginate on the server."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from lifecycle.listing import SortBy, clean_query, paginate
from lifecycle.models import AlgorithmModel
from tests.factories import make_model

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def as_analyst(client, analyst):
    client.force_login(analyst)
    return client


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
