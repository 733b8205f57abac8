"""The one error every service raises; the API and the pages turn it into a message."""

from __future__ import annotations

from dataclasses import dataclass


class ApplicationError(Exception):
    """A refused request: `code` names the rule, `message` says what to do instead."""

    status = 400

    def __init__(self, message: str, *, code: str, status: int | None = None, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            body["details"] = self.details
        return {"error": body}


@dataclass(frozen=True)
class Blocker:
    """Why a write cannot happen now, in one sentence: the reason beside the disabled button and the service's
    refusal (its code, status, details and headers), so the page and the server never disagree."""

    code: str
    message: str
    status: int = 400
    details: dict | None = None
    headers: dict | None = None

    @classmethod
    def of(cls, error: ApplicationError) -> Blocker:
        return cls(error.code, error.message, error.status, error.details or None, error.headers or None)

    def error(self) -> ApplicationError:
        return ApplicationError(self.message, code=self.code, status=self.status, details=self.details,
                                headers=self.headers)


def invalid_transition(message: str, **details) -> ApplicationError:
    return ApplicationError(message, code="invalid_transition", status=400, details=details or None)


def draft_only(message: str, **details) -> ApplicationError:
    return ApplicationError(message, code="draft_only", status=409, details=details or None)


def validation_error(message: str, **details) -> ApplicationError:
    return ApplicationError(message, code="validation_error", status=400, details=details or None)


def not_found(message: str) -> ApplicationError:
    return ApplicationError(message, code="not_found", status=404)


def run_in_flight(run) -> ApplicationError:
    return ApplicationError(
        f"Run {run.pk} ({run.kind}) is already {run.status} on this model. Wait for it to finish "
        f"(GET the model and watch lastOperation), then try again.",
        code="run_in_flight",
        status=409,
        details={"runId": run.pk, "kind": run.kind, "status": run.status},
        headers={"X-Run-Id": str(run.pk)},
    )
