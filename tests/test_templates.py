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


# A status, state or rung compared with a quoted value, in either order or as `in "a b"`: a renamed value would
# silently change the page. Compare with the enum member instead (`model.state == State.READY`; the choices context
# processor offers every app's enums to every template).
_STATUS = r"\b(?:state|status|registry_status|to_status|from_status)\b"  # also a bare `status` (watch_badge)
_QUOTED = r"(?:\"[^\"]*\"|'[^']*')"
LITERAL_STATUS = re.compile(rf"{_STATUS}\s*(?:==|!=)\s*{_QUOTED}|{_QUOTED}\s*(?:==|!=)\s*[\w.]*{_STATUS}"
                            rf"|{_STATUS}\s+(?:not\s+)?in\s+{_QUOTED}")
KNOWN_LITERAL_STATUS: set[str] = set()


def test_templates_compare_statuses_with_the_enums_not_literals():
    offenders = [f"{name}:{text[:tag.start()].count(chr(10)) + 1}: {hit.group(0)}"
                 for path in sorted(TEMPLATES.rglob("*.html"))
                 for name in [path.relative_to(TEMPLATES).as_posix()] if name not in KNOWN_LITERAL_STATUS
                 for text in [path.read_text()]
                 for tag in re.finditer(r"\{%.*?%\}", text) for hit in [LITERAL_STATUS.search(tag.group(0))] if hit]
    assert offenders == []


def test_every_page_knows_the_status_enums(rf):
    # The names the templates compare with, from each app's own enums; a member compares equal to the stored value.
    from django.contrib.auth.models import AnonymousUser
    from django.template import engines

    from lifecycle.choices import OperationalStatus, RegistryStatus, RunStatus, State
    from registry.choices import ExperimentStatus, RequestState
    from scoring.choices import OutcomeCategory

    request = rf.get("/")
    request.user = AnonymousUser()
    template = engines["django"].from_string(
        "{% if s == State.READY %}ready{% endif %} {% if st != Status.ACTIVE %}not active{% endif %} "
        "{% if r == Rung.CHAMPION %}champion{% endif %} {% if q == RunStatus.QUEUED %}queued{% endif %} "
        "{% if p == RequestState.PENDING %}pending{% endif %} {% if e == ExperimentStatus.COMPLETED %}done{% endif %} "
        "{% if c == OutcomeCategory.RESPONSE %}response{% endif %} {{ State.BUSY }}")
    text = template.render({"s": "ready", "st": "paused", "r": "champion", "q": "queued", "p": "pending",
                            "e": "completed", "c": "response"}, request)
    assert text == "ready not active champion queued pending done response busy"

    from lifecycle.core.context_processors import choices
    assert {name: choices(request)[name] for name in ("State", "Status", "Rung", "RunStatus", "RequestState",
                                                       "ExperimentStatus", "OutcomeCategory")} == {
        "State": State, "Status": OperationalStatus, "Rung": RegistryStatus, "RunStatus": RunStatus,
        "RequestState": RequestState, "ExperimentStatus": ExperimentStatus, "OutcomeCategory": OutcomeCategory}
