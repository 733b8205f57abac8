"""JSON bodies, parsed strictly: a NUL, a lone surrogate, NaN/Infinity/1e400 or nesting deeper than 64
anywhere is a 400 naming the field, before a serializer or a service sees the body."""

from __future__ import annotations

import codecs

from rest_framework import exceptions, parsers
from rest_framework.parsers import get_encoding

from .. import inputs


def odd_input_error(exc: inputs.OddInput) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.path: [exc.message]})


class StrictJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return inputs.loads(text)
        except inputs.OddInput as exc:
            raise odd_input_error(exc) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
