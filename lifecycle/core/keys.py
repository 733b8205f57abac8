"""One rule for every key and name that appears in a URL, and plain-ASCII ids beside them.

A key is lowercase letters and digits, with '.', '_' or '-' inside ("credit_propensity", "churn-gbm-walk",
"v1"): it survives a URL, a CSV cell and a log line unquoted. Its longest form is the shortest column it is
written to, never more: model keys 255 (their own column and the seed's contract); families, tags,
experiment and catalog keys 64, because the audit trail records them in its 64-character from/to columns.

The same rule backs the API serializers (whose regex and length become `pattern` and `maxLength` in the
schema), the page forms, the services and the URL converters. Values stored before the rule existed may
break it: pages show those as text instead of linking them (`reverse_or_none`, `{% link_or_text %}`).
"""

from __future__ import annotations

import re

from django import forms
from django.core.validators import MaxLengthValidator, RegexValidator
from rest_framework import serializers

KEY_MAX_LENGTH = 64
MODEL_KEY_MAX_LENGTH = 255
# Ids are ASCII digits only ("١" and "²" are digits to str.isdigit, and int("١") == 1), and fit a bigint.
ID_MAX = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")


def key_regex(max_length: int = KEY_MAX_LENGTH) -> str:
    return rf"^[a-z0-9](?:[a-z0-9_.-]{{0,{max_length - 2}}}[a-z0-9])?$"


def key_help(max_length: int = KEY_MAX_LENGTH) -> str:
    return (f"1-{max_length} lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or "
            "digit")


# Page URLs match keys with the rule's characters at any length; the length is the input's business. Model
# refs also match the keys of the product's first rule (capitals allowed), so no stored model loses its page.
KEY_URL_REGEX = r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?"
MODEL_REF_URL_REGEX = r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"
_KEY = re.compile(KEY_URL_REGEX)
# The same for a form's `pattern` attribute, whose regex syntax wants the "-" in a class escaped.
KEY_HTML_PATTERN = r"[a-z0-9](?:[a-z0-9_.\-]*[a-z0-9])?"


def is_key(value, *, max_length: int = KEY_MAX_LENGTH) -> bool:
    return isinstance(value, str) and len(value) <= max_length and _KEY.fullmatch(value) is not None


def key_problem(value, *, what: str = "key", max_length: int = KEY_MAX_LENGTH,
                numeric_ok: bool = True) -> str | None:
    """Why `value` is not a valid key (a sentence naming `what`), or None when it is one."""
    if not is_key(value, max_length=max_length):
        return f"{what} must be {key_help(max_length)}"
    if not numeric_ok and value.isdigit():
        return f"{what} must not be all digits (ids are numbers)"
    return None


def parse_id(value) -> int | None:
    """The id `value` spells in ASCII digits, or None (then it may be a key)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= ID_MAX else None
    text = str(value)
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if number <= ID_MAX else None


# ------------------------------------------------------------------------------------ validators and fields


def key_validators(max_length: int = KEY_MAX_LENGTH, *, what: str = "key", numeric_ok: bool = True) -> list:
    message = f"{what} must be {key_help(max_length)}"
    validators = [MaxLengthValidator(max_length),
                  RegexValidator(key_regex(max_length)[:-1] + r"\Z", message=message, code="invalid_key")]
    if not numeric_ok:
        validators.append(RegexValidator(r"^[0-9]+$", inverse_match=True, code="numeric_key",
                                         message=f"{what} must not be all digits (ids are numbers)"))
    return validators


class KeyField(serializers.RegexField):
    """A key in a JSON body; the schema shows its pattern and maxLength."""

    def __init__(self, *, max_length: int = KEY_MAX_LENGTH, what: str = "key", numeric_ok: bool = True, **kwargs):
        kwargs.setdefault("help_text", key_help(max_length))
        self.numeric_ok = numeric_ok
        self.what = what
        super().__init__(key_regex(max_length), max_length=max_length,
                         error_messages={"invalid": f"{what} must be {key_help(max_length)}"}, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not self.numeric_ok and value.isdigit():
            raise serializers.ValidationError(f"{self.what} must not be all digits (ids are numbers)")
        return value


class KeyFormField(forms.CharField):
    """A key in a page form, checked by the same rule; the browser gets the pattern too."""

    def __init__(self, *, max_length: int = KEY_MAX_LENGTH, what: str = "key", numeric_ok: bool = True, **kwargs):
        kwargs.setdefault("help_text", key_help(max_length)[0].upper() + key_help(max_length)[1:] + ".")
        super().__init__(max_length=max_length, **kwargs)
        self.validators.extend(key_validators(max_length, what=what, numeric_ok=numeric_ok)[1:])

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs["pattern"] = KEY_HTML_PATTERN
        attrs.setdefault("autocomplete", "off")
        attrs.setdefault("spellcheck", "false")
        return attrs


# ------------------------------------------------------------------------------------ URL converters


class KeyConverter:
    regex = KEY_URL_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


class ModelRefConverter(KeyConverter):
    """A model's id or key."""

    regex = MODEL_REF_URL_REGEX


def reverse_or_none(viewname: str, *args) -> str | None:
    """The URL of a page named by stored values, or None when a value breaks the rule (show it as text)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(viewname, args=args)
    except NoReverseMatch:
        return None


def register_url_converters() -> None:
    """`<key:...>` and `<modelref:...>` in every app's urls (called once, when the app is ready)."""
    from django.urls import converters, register_converter

    for name, converter in (("key", KeyConverter), ("modelref", ModelRefConverter)):
        if name not in converters.REGISTERED_CONVERTERS:
            register_converter(converter, name)
