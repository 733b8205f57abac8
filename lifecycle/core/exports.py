"""CSV exports: streamed row by row, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A text cell that would start a formula gets a leading apostrophe, so the spreadsheet shows it as
    text: an audit message such as `=HYPERLINK(...)` is never evaluated on the reader's machine."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def csv_response(header: list[str], rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    """Every export goes through here, so every cell of every export is neutralised."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([csv_cell(h) for h in header])
        for row in rows:
            yield writer.writerow([csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
