"""Bulk sample files: JSONL (one sample object a line) or CSV (`content`, `weight`, `label.<trait>`,
any other column is a feature). Parsing reports every bad line by number; nothing is half-read.

Two limits keep an upload inside the web worker's timeout: the request body (SAMPLE_UPLOAD_MAX_BYTES),
refused from its Content-Length before anything reads it, and the rows (SAMPLE_UPLOAD_MAX_ROWS), counted
while the file is read."""

from __future__ import annotations

import csv
import io
import json
import math

from .core import inputs

MAX_ERRORS = 50


class UploadError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__(errors[0] if errors else "invalid upload")
        self.errors = errors


def detect_format(filename: str, content_type: str) -> str:
    name = (filename or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")) or "json" in (content_type or ""):
        return "jsonl"
    if name.endswith(".csv") or "csv" in (content_type or ""):
        return "csv"
    raise UploadError(["Upload a .jsonl (one JSON sample per line) or a .csv file"])


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number; leave the cell empty for a missing value")
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _cell_number(column: str, cell: str):
    try:
        return _number(cell)
    except ValueError as exc:
        raise ValueError(f"column {column!r}: {exc}") from None


def _text(source, newline: str | None) -> io.TextIOWrapper:
    """The file as text, decoded as it is read: nothing holds the whole file at once."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    return io.TextIOWrapper(source, encoding="utf-8-sig", newline=newline)


def _undecodable_line(source) -> int | None:
    """The first line that is not UTF-8 (text is decoded in blocks, so the decoder cannot say which line)."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        source.seek(0)
    except (AttributeError, OSError, ValueError):
        return None
    for number, raw in enumerate(source, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


def _too_many(max_rows: int) -> UploadError:
    return UploadError([f"The file holds more than {max_rows:,} samples; split it into files of at most "
                        f"{max_rows:,} rows"])


def parse(source, fmt: str, *, max_rows: int | None = None) -> tuple[list[dict], list[int]]:
    """Return the sample rows and their line numbers, or raise UploadError listing bad lines. `source` is
    bytes or a binary file; it is read line by line, and a file with more than `max_rows` samples is refused
    at the row that crosses the limit, not after everything was parsed."""
    rows, lines, errors = [], [], []
    stream = _text(source, newline=None if fmt == "jsonl" else "")
    try:
        if fmt == "jsonl":
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                if max_rows is not None and len(rows) >= max_rows:
                    raise _too_many(max_rows)
                try:
                    rows.append(inputs.loads(line))
                    lines.append(number)
                except (inputs.OddInput, json.JSONDecodeError) as exc:
                    errors.append(f"line {number}: {exc}" if isinstance(exc, inputs.OddInput)
                                  else f"line {number}: not valid JSON ({exc.msg})")
                    if len(errors) >= MAX_ERRORS:
                        break
        else:
            reader = csv.reader(stream)
            header = next(reader, None)
            if not header:
                raise UploadError(["line 1: the CSV file needs a header row"])
            header = [h.strip() for h in header]
            if len(set(header)) != len(header):
                raise UploadError(["line 1: column names must be unique"])
            odd = next((f"line 1: column name {h!r} {inputs.text_problem(h)}" for h in header
                        if inputs.text_problem(h)), None)
            if odd:
                raise UploadError([odd])
            for number, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if max_rows is not None and len(rows) >= max_rows:
                    raise _too_many(max_rows)
                if len(cells) != len(header):
                    errors.append(f"line {number}: {len(cells)} cells for {len(header)} columns")
                    if len(errors) >= MAX_ERRORS:
                        break
                    continue
                try:
                    rows.append(_csv_row(header, cells))
                    lines.append(number)
                except ValueError as exc:
                    errors.append(f"line {number}: {exc}")
                    if len(errors) >= MAX_ERRORS:
                        break
    except UnicodeDecodeError:
        line = _undecodable_line(source)
        raise UploadError([f"line {line}: not UTF-8 text" if line else "The file is not UTF-8 text"]) from None
    finally:
        stream.detach()  # the caller's file stays open; it is the caller's to close
    if errors:
        raise UploadError(errors)
    if not rows:
        raise UploadError(["The file holds no samples"])
    return rows, lines


def _csv_row(header: list[str], cells: list[str]) -> dict:
    row: dict = {"labels": {}}
    features = {}
    for name, cell in zip(header, cells):
        cell = cell.strip()
        problem = inputs.text_problem(cell)
        if problem:
            raise ValueError(f"column {name!r} {problem}")
        if name == "content":
            row["content"] = cell
        elif name == "weight":
            row["weight"] = _cell_number(name, cell) if cell else 1.0
        elif name.startswith("label."):
            if cell:
                row["labels"][name[6:]] = _cell_number(name, cell)
        else:
            features[name] = _cell_number(name, cell) if cell else None
    if features:
        row["features"] = features
    return row


# The views that take a samples file: the model page's form and the API's samples/upload.
UPLOAD_VIEWS = frozenset({"lifecycle:sample-upload", "algorithm-model-upload"})


class UploadSizeMiddleware:
    """Refuses a samples upload whose declared size is over SAMPLE_UPLOAD_MAX_BYTES before any byte of it is
    read: 413 in the error envelope for the API, a message on the samples panel for the page. It runs at
    view time ahead of the CSRF check, which reads a form's body to find its token. The body can never be
    longer than it declares (Django reads Content-Length bytes at most), so the declared size is the size."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        from django.conf import settings

        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in UPLOAD_VIEWS:
            return None
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        limit = settings.SAMPLE_UPLOAD_MAX_BYTES
        if size <= limit:
            return None
        message = (f"The file is too large: {_megabytes(size)} sent, at most {_megabytes(limit)} per upload. "
                   f"Split it into smaller files and upload each.")
        if request.path_info.startswith("/api/"):
            from django.http import JsonResponse

            from .core.errors import ApplicationError

            error = ApplicationError(message, code="payload_too_large", status=413,
                                     details={"maxBytes": limit, "contentLength": size})
            return JsonResponse(error.as_dict(), status=413)
        from django.contrib import messages
        from django.shortcuts import redirect
        from django.urls import reverse

        messages.error(request, message, extra_tags="samples")
        return redirect(reverse("lifecycle:model-detail", args=[view_kwargs.get("ref", "")]) + "#samples")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"
