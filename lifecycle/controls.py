"""The lifecycle controls of a model row, each applied by the service of the app that owns it.

Seed 001's PUT sets status, cadence and outcome weights in one body. The owners (registry: status;
lifecycle: cadence; scoring: outcome weights) register here at start-up, so the API and the pages
route each field to its owner without lifecycle importing the apps that depend on it."""

from __future__ import annotations

from collections.abc import Callable

_CONTROLS: list[tuple[tuple[str, ...], Callable]] = []


def register(fields: tuple[str, ...], apply: Callable) -> None:
    """`apply(model=, actor=, values={field: value})` validates and writes its fields through a service."""
    if not any(existing == fields for existing, _ in _CONTROLS):
        _CONTROLS.append((fields, apply))


def field_names() -> set[str]:
    return {name for fields, _ in _CONTROLS for name in fields}


def split(data) -> tuple[dict, dict]:
    """(the metadata fields, the control fields) of a request body."""
    if not isinstance(data, dict):
        data = dict(data) if hasattr(data, "items") else data
    if not isinstance(data, dict):
        return data, {}
    names = field_names()
    return {k: v for k, v in data.items() if k not in names}, {k: v for k, v in data.items() if k in names}


def apply(*, model, actor, controls: dict) -> None:
    for fields, fn in _CONTROLS:
        values = {name: controls[name] for name in fields if name in controls}
        if values:
            fn(model=model, actor=actor, values=values)
