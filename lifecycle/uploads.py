"""Bulk sample files: JSONL (one sample object a line) or CSV (`content`, `weight`, `label.<trait>`,
any other column is a feature). Parsing reports every bad line by number; nothing is half-read."""

from __future__ import annotations

import csv
import io
import json

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
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse(data: bytes, fmt: str) -> tuple[list[dict], list[int]]:
    """Return the sample rows and their line numbers, or raise UploadError listing bad lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError(["The file is not UTF-8 text"]) from None
    rows, lines, errors = [], [], []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
                lines.append(number)
            except json.JSONDecodeError as exc:
                errors.append(f"line {number}: not valid JSON ({exc.msg})")
                if len(errors) >= MAX_ERRORS:
                    break
    else:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            raise UploadError(["line 1: the CSV file needs a header row"])
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise UploadError(["line 1: column names must be unique"])
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                errors.append(f"line {number}: {len(cells)} cells for {len(header)} columns")
                if len(errors) >= MAX_ERRORS:
                    break
                continue
            row: dict = {"labels": {}}
            features = {}
            for name, cell in zip(header, cells):
                cell = cell.strip()
                if name == "content":
                    row["content"] = cell
                elif name == "weight":
                    row["weight"] = _number(cell) if cell else 1.0
                elif name.startswith("label."):
                    if cell:
                        row["labels"][name[6:]] = _number(cell)
                else:
                    features[name] = _number(cell) if cell else None
            if features:
                row["features"] = features
            rows.append(row)
            lines.append(number)
    if errors:
        raise UploadError(errors)
    if not rows:
        raise UploadError(["The file holds no samples"])
    return rows, lines
