"""What no input may carry, whatever field it arrives in: NUL characters, lone surrogates (text no database
or UTF-8 encoder takes), numbers JSON cannot write back (NaN, Infinity, 1e400) and nesting deeper than any
of our shapes. Refused at the door with the field named, before a rule or the database sees them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

import numpy as np
import orjson

MAX_DEPTH = 64


class OddInput(ValueError):
    """`path` names where the value is ("features.age", "inputs[2].content", "line 3")."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path or "body"
        self.message = message


class _NonFinite:
    """A number JSON cannot hold, kept until the walk can say which field it was in."""

    def __init__(self, text: str):
        self.text = text


def text_problem(text: str) -> str | None:
    if text.isascii():
        return "contains a NUL character" if "\x00" in text else None
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_value(value, path: str = "") -> None:
    """Walk a parsed JSON value (iteratively: it may be deep) and raise OddInput at the first odd thing."""
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise OddInput(where, problem)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                top = re.split(r"[.\[]", where, maxsplit=1)[0] if where else ""
                raise OddInput(top, f"is nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem:
                        raise OddInput(where, f"has a key that {problem}")
                    stack.append((child, _join(where, key), depth + 1))
            else:
                stack.extend((child, _join(where, i), depth + 1) for i, child in enumerate(item))
        elif isinstance(item, _NonFinite):
            raise OddInput(where, f"{item.text} is not a finite number")
        elif isinstance(item, float) and not math.isfinite(item):
            raise OddInput(where, "is not a finite number")


def _float(text: str):
    number = float(text)
    return number if math.isfinite(number) else _NonFinite(text)


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deep_field(text: str) -> str:
    """The top-level field holding the nesting that was too deep for the parser itself."""
    depth, field = 0, ""
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return field
        elif token in "]}":
            depth -= 1
        elif depth == 1 and text[match.end():match.end() + 20].lstrip().startswith(":"):
            try:
                field = json.loads(token)
            except ValueError:
                field = ""
    return field


# The escapes that can make a NUL or a surrogate (pairs too: they take the full walk).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# With every digit read as 0 and E as e: a float literal that could overflow to infinity has an exponent of
# three digits or more, or 300 digits or more in a row.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")
_HUGE = (b"0e000", b"0e+000", b"0e-000", b"0" * 300)
# Ten or more integer digits before a two-digit exponent can also reach infinity (1 and 250 zeros, then e99).
_LONG_MANTISSA = re.compile(rb"0{10,}(?:\.0*)?e\+?00")
_TEN_ZEROS = b"0" * 10  # what the pattern above needs, found far faster than the pattern


def _depth_within(value, limit: int) -> bool:
    """Whether no container in `value` is nested `limit` levels deep or more; walks containers only."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        if depth >= limit:
            return False
        below = []
        for item in level:
            children = item.values() if type(item) is dict else item
            kinds = set(map(type, children))  # parsed JSON: exactly dict or list, never a subclass
            if dict in kinds or list in kinds:
                below.extend(c for c in children if type(c) is dict or type(c) is list)
        level, depth = below, depth + 1
    return True


def _utf8(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in the text itself
        return None


def _plain(raw: bytes, shape: bytes | None = None) -> bool:
    """Whether no string parsed from `raw` (UTF-8 JSON text) can hold a NUL or a lone surrogate and no number can be
    infinite or NaN: then only the nesting needs a look. Decided with C-speed scans; a false alarm only costs the
    full walk. `shape` is `raw` with every digit read as 0 and E as e, if already made."""
    if b"\x00" in raw or b"NaN" in raw or b"Infinity" in raw or _SUSPECT_ESCAPE.search(raw):
        return False
    if shape is None:
        shape = raw.translate(_DIGITS_AS_ZERO)
    if any(huge in shape for huge in _HUGE):
        return False
    return _TEN_ZEROS not in shape or not _LONG_MANTISSA.search(shape)


def _fast_loads(raw: bytes, shape: bytes, text: str):
    """json.loads(text) for plain text, by orjson where it gives the same value: about twice as fast on a large
    batch. orjson reads integers of 19 digits or more as floats, so those (and any text orjson refuses, which
    json.loads then refuses with its own message) go to json.loads."""
    if _NINETEEN_DIGITS not in shape:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


_NINETEEN_DIGITS = b"0" * 19


def stored_loads(text: str):
    """json.loads of JSON text the database kept (checked when it was written, so nothing to refuse), by orjson
    where that gives the same value (`_fast_loads`)."""
    raw = _utf8(text)
    if raw is None:
        return json.loads(text)
    return _fast_loads(raw, raw.translate(_DIGITS_AS_ZERO), text)


def stored_loads_many(texts: Sequence[str | None]) -> list:
    """stored_loads of each text (None stays None) in one orjson call over them all, as one JSON array, where
    that gives the same values: a run reads thousands of samples, and a call per sample cost more than the
    decoding. Any text that call cannot take as it is (an integer of 19 digits or more, NaN, a lone surrogate) sends
    them all to stored_loads one by one."""
    present = [text for text in texts if text is not None]
    raw = _utf8("[" + ",".join(present) + "]")
    if raw is not None and _NINETEEN_DIGITS not in raw.translate(_DIGITS_AS_ZERO):
        try:
            values = orjson.loads(raw)
        except orjson.JSONDecodeError:
            values = None
        if values is not None and len(values) == len(present):
            decoded = iter(values)
            return [None if text is None else next(decoded) for text in texts]
    return [None if text is None else stored_loads(text) for text in texts]

# From this size up, the nesting of text without backslashes is measured on the text (`_bracket_depth`).
_SCAN_TEXT_FROM = 1 << 16


def _nesting_within(raw: bytes, value) -> bool:
    """Whether the parsed `value` of `raw` nests at most MAX_DEPTH levels."""
    if len(raw) >= _SCAN_TEXT_FROM and b"\\" not in raw:
        return _bracket_depth(raw) <= MAX_DEPTH
    return _depth_within(value, MAX_DEPTH)


def _bracket_depth(raw: bytes) -> int:
    """The deepest nesting of brackets and braces outside strings in JSON text without a backslash (so every quote
    opens or closes a string), in a few array passes: walking 10,000 parsed inputs took as long as parsing them."""
    chars = np.frombuffer(raw, dtype=np.uint8)
    in_string = (np.cumsum(chars == ord('"'), dtype=np.int64) & 1).astype(bool)
    steps = ((chars == ord("[")) | (chars == ord("{"))).astype(np.int8)
    steps -= ((chars == ord("]")) | (chars == ord("}"))).astype(np.int8)
    steps[in_string] = 0
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def loads(text: str):
    """json.loads that refuses what `check_value` refuses, naming the field; malformed JSON is a ValueError.

    Plain text (see `_plain`) is parsed by a C decoder alone (`_fast_loads`) and only its nesting is looked at;
    anything else, or a body nested too deep, takes the full walk that names the field."""
    raw = _utf8(text)
    shape = raw.translate(_DIGITS_AS_ZERO) if raw is not None else None
    quick = raw is not None and _plain(raw, shape)
    try:
        if quick:
            value = _fast_loads(raw, shape, text)
        else:
            value = json.loads(text, parse_constant=_NonFinite, parse_float=_float)
    except RecursionError:
        raise OddInput(_deep_field(text), f"is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of thousands of digits
        raise OddInput("", str(exc)) from None
    if not quick or not _nesting_within(raw, value):
        check_value(value)  # the full walk; after the quick path, it names the field nested too deep
    return value


# ------------------------------------------------------------------------------------ the query string


class OddQueryMiddleware:
    """A query string or path with a NUL (or text no encoder takes) is a 400 before any view reads it: the
    database drivers refuse such text with an error, not an empty answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = self._problem(request)
        if problem:
            return self._refuse(request, *problem)
        return self.get_response(request)

    @staticmethod
    def _problem(request) -> tuple[str, str] | None:
        problem = text_problem(request.path_info)
        if problem:
            return "path", problem
        for name, values in request.GET.lists():
            problem = text_problem(name)
            if problem:
                return "query", f"has a parameter name that {problem}"
            for value in values:
                problem = text_problem(value)
                if problem:
                    return name, problem
        return None

    @staticmethod
    def _refuse(request, field: str, problem: str):
        from django.http import JsonResponse
        from django.shortcuts import render

        message = f"{field}: {problem}"
        if request.path_info.startswith("/api/"):
            return JsonResponse({"error": {"code": "validation_error", "message": message, "status": 400,
                                           "details": {"fields": {field: [problem]}}}}, status=400)
        return render(request, "error.html", {"status": 400, "title": "Bad request", "message": message},
                      status=400)
