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


def test_percentages_and_signs_read_alike_on_every_page():
    # One pct and one signed, built in: a share rounds half-up (0.0625 reads 6.3%, as the guard's messages say);
    # a weight always shows its sign, a difference that rounds to zero shows none.
    from django.template import engines

    def render(text, **context):
        return engines["django"].from_string(text).render(context)

    assert render("{{ a|pct }} {{ b|pct:2 }} {{ c|pct }}", a=0.0625, b=0.12345, c=None) == "6.3% 12.35% –"
    assert render("{{ a|signed }} {{ b|signed }} {{ c|signed }}", a=0.3, b=-1.5, c=0) == "+0.3 -1.5 +0"
    assert render("{{ a|signed:3 }} {{ b|signed:0 }} {{ c|signed:4 }}", a=0.0001, b=-3, c=0.03) == "0.000 -3 +0.0300"
    assert render("{{ a|signed_pct }}", a=0.061) == "+6.1%"
