"""Template hygiene that a page would otherwise show to its users."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_comment_spans_lines():
    # Django's {# #} comment ends at the line's end: a multi-line one is printed on the page as text
    # (and, in a partial swapped by htmx, once more after every swap). Use {% comment %} instead.
    offenders = [f"{path.relative_to(TEMPLATES)}:{text[:m.start()].count(chr(10)) + 1}"
                 for path in sorted(TEMPLATES.rglob("*.html")) for text in [path.read_text()]
                 for m in re.finditer(r"\{#(?:(?!#\}).)*$", text, flags=re.M)]
    assert offenders == []
