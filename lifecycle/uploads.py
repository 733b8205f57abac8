"""Bulk sample files: JSONL (one sample object a line) or CSV (`content`, `weight`, `label.<trait>`,
any other column is a feature; comma, semicolon or tab separated). Reading reports every bad line by number;
nothing is half-read. `summary` says what a file would store before anything is stored.

Two limits keep an upload inside the web worker's timeout: the request body (SAMPLE_UPLOAD_MAX_BYTES),
refused from its Content-Length before anything reads it, and the rows (SAMPLE_UPLOAD_MAX_ROWS), counted
while the file is read."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
from dataclasses import dataclass, field

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


# The delimiters a CSV may use, by the name the summary gives them; comma first, so it wins a tie.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def detect_delimiter(header_line: str) -> str:
    """The delimiter that splits the header row into the most columns (a one-column file is read as comma
    separated). The header alone decides: a data cell may hold a comma, as a European decimal does."""
    best, most = ",", 1
    for delimiter in DELIMITERS:
        cells = len(next(csv.reader([header_line], delimiter=delimiter), []))
        if cells > most:
            best, most = delimiter, cells
    return best


@dataclass
class Read:
    """A file's sample rows with their line numbers, and the lines refused with why (the first MAX_ERRORS of
    `refused_count`). `columns` are a CSV's feature columns as its header names them."""

    fmt: str
    rows: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    refused_count: int = 0
    delimiter: str | None = None
    columns: list[str] | None = None

    def refuse(self, line: int, reason: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_ERRORS:
            self.refused.append((line, reason))


def read(source, fmt: str, *, max_rows: int | None = None) -> Read:
    """Every sample row of the file, and each refused line with its reason. `source` is bytes or a binary file,
    read line by line. Raises UploadError only for what spoils the whole file: no header, a bad header, text
    that is not UTF-8, no rows at all, or more than `max_rows` samples (refused at the row that crosses it)."""
    result = Read(fmt=fmt)
    reader = None
    stream = _text(source, newline=None if fmt == "jsonl" else "")
    try:
        if fmt == "jsonl":
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                if max_rows is not None and len(result.rows) >= max_rows:
                    raise _too_many(max_rows)
                try:
                    result.rows.append(inputs.loads(line))
                    result.lines.append(number)
                except inputs.OddInput as exc:
                    result.refuse(number, str(exc))
                except json.JSONDecodeError as exc:
                    result.refuse(number, f"not valid JSON ({exc.msg})")
        else:
            first = stream.readline()
            result.delimiter = detect_delimiter(first)
            reader = csv.reader(itertools.chain([first], stream), delimiter=result.delimiter)
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
            result.columns = [h for h in header if h not in ("content", "weight") and not h.startswith("label.")]
            for number, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if max_rows is not None and len(result.rows) >= max_rows:
                    raise _too_many(max_rows)
                if len(cells) != len(header):
                    result.refuse(number, f"{len(cells)} cells for {len(header)} columns")
                    continue
                try:
                    result.rows.append(_csv_row(header, cells))
                    result.lines.append(number)
                except ValueError as exc:
                    result.refuse(number, str(exc))
    except csv.Error as exc:  # a cell past the csv module's field limit, usually a quote that never closes
        where = f"line {reader.line_num}: " if reader is not None else ""
        raise UploadError([f"{where}the CSV cannot be read ({exc}); a cell holds at most {csv.field_size_limit():,} "
                           "characters, so look for a quote that is opened and never closed"]) from None
    except UnicodeDecodeError:
        line = _undecodable_line(source)
        raise UploadError([f"line {line}: not UTF-8 text" if line else "The file is not UTF-8 text"]) from None
    finally:
        stream.detach()  # the caller's file stays open; it is the caller's to close
    if not result.rows and not result.refused_count:
        raise UploadError(["The file holds no samples"])
    return result


def parse(source, fmt: str, *, max_rows: int | None = None) -> tuple[list[dict], list[int]]:
    """Return the sample rows and their line numbers, or raise UploadError listing the bad lines."""
    result = read(source, fmt, max_rows=max_rows)
    if result.refused_count:
        raise UploadError([f"line {line}: {reason}" for line, reason in result.refused])
    return result.rows, result.lines


def digest(source) -> str:
    """The SHA-256 of an uploaded file (read in chunks, then rewound): what a preview was made of."""
    sha = hashlib.sha256()
    if isinstance(source, (bytes, bytearray)):
        sha.update(source)
        return sha.hexdigest()
    source.seek(0)
    for chunk in iter(lambda: source.read(1 << 16), b""):
        sha.update(chunk)
    source.seek(0)
    return sha.hexdigest()


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


def _kind(values: list) -> str:
    """What a feature column holds, in the words the preview shows."""
    kinds = {"yes/no" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "text"
             for v in values}
    if not kinds:
        return "empty"
    return kinds.pop() if len(kinds) == 1 else "mixed: " + " and ".join(sorted(kinds))


def summary(parsed: Read, samples: list, *, traits: list[dict], refused: list[tuple[int, str]],
            refused_count: int) -> dict:
    """What the file would store, before it is stored: the columns read as features, each trait's labels in the
    file (and the model's counts once it is stored), label keys that match no trait, rows without any label and
    the refused lines. `samples` are the rows as they would be stored (labels keyed by trait key); `traits` are
    the model's, each a dict with key, name and its current positive and negative counts."""
    names = list(parsed.columns or [])
    values: dict[str, list] = {n: [] for n in names}
    known = {t["key"] for t in traits}
    counts = {t["key"]: [0, 0] for t in traits}
    unknown: dict[str, int] = {}
    without_labels = with_text = 0
    for sample in samples:
        for name, value in (sample.features or {}).items():
            if name not in values:
                names.append(name)
                values[name] = []
            if value is not None:
                values[name].append(value)
        with_text += bool(sample.content)
        if not sample.labels:
            without_labels += 1
        for key, quality in sample.labels.items():
            if key in known:
                counts[key][0 if quality >= 0.5 else 1] += 1
            else:
                unknown[key] = unknown.get(key, 0) + 1
    unlabelled_for_traits = sum(1 for s in samples if s.labels and not known.intersection(s.labels))
    warnings = []
    if refused_count:
        warnings.append(f"{refused_count} line(s) are refused: nothing is stored until the file is fixed.")
    if without_labels:
        warnings.append(f"{without_labels} of {len(samples)} row(s) carry no label: discovery uses them, training "
                        "does not.")
    if unknown:
        keys = ", ".join(f"{k} ({n} row{'s' if n != 1 else ''})" for k, n in sorted(unknown.items()))
        warnings.append(f"Label keys that match no trait: {keys}. Discovery can turn these into traits, or define "
                        "them as traits before training.")
    if unlabelled_for_traits:
        warnings.append(f"{unlabelled_for_traits} row(s) are labelled only for keys that match no trait: training "
                        "does not use them until those keys are traits.")
    if samples and traits and not any(p or n for p, n in counts.values()):
        warnings.append("No row carries a label for any of this model's traits.")
    return {
        "format": parsed.fmt,
        "delimiter": DELIMITERS.get(parsed.delimiter) if parsed.delimiter else None,
        "rows": len(samples),
        "features": [{"name": n, "kind": _kind(values[n]), "filled": len(values[n])} for n in names],
        "textRows": with_text,
        "traits": [{"key": t["key"], "name": t["name"], "positive": counts[t["key"]][0],
                    "negative": counts[t["key"]][1], "positiveAfter": t["positive"] + counts[t["key"]][0],
                    "negativeAfter": t["negative"] + counts[t["key"]][1]} for t in traits],
        "unknownLabelKeys": [{"key": k, "rows": n} for k, n in sorted(unknown.items())],
        "rowsWithoutLabels": without_labels,
        "refused": [{"line": line, "reason": reason} for line, reason in refused],
        "refusedCount": refused_count,
        "warnings": warnings,
    }


# The views that take a samples file: the model page's form and the API's samples/upload.
UPLOAD_VIEWS = frozenset({"lifecycle:sample-upload", "algorithm-model-upload"})


class UploadSizeMiddleware:
    """Refuses a samples upload whose declared size is over SAMPLE_UPLOAD_MAX_BYTES before any byte of it is
    read: 413 in the error envelope for the API, a message on the samples panel for the page (in the preview panel
    for its htmx Preview). It runs at
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
        if request.headers.get("HX-Request"):
            # The page's Preview swaps the answer into its panel: the refusal itself, not the page a redirect shows.
            from django.http import HttpResponse
            from django.utils.html import format_html

            return HttpResponse(format_html('<div class="flash flash-error" role="alert"><strong>Nothing can be '
                                            'stored:</strong> {}</div>', message))
        from django.contrib import messages
        from django.shortcuts import redirect
        from django.urls import reverse

        messages.error(request, message, extra_tags="samples")
        return redirect(reverse("lifecycle:model-detail", args=[view_kwargs.get("ref", "")]) + "#samples")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"
