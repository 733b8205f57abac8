"""What every form shares and no domain rule."""

from __future__ import annotations


class ProblemsMixin:
    """The form's refusals in one line, for a page that cannot mark the fields (a panel posting elsewhere)."""

    def problems(self) -> str:
        return "; ".join(f"{self.fields[k].label}: {' '.join(v)}" if k in self.fields else " ".join(v)
                         for k, v in self.errors.items())


def add_refusal(form, exc) -> None:
    """Put a service's refusal on the field it names (`details.field`), or on the form as a whole."""
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)
