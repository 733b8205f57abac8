"""Every JSON answer under /api/v1/ that a test receives is checked against the published schema, strictly
(OpenAPI 3.1 with formats): a drift between the API and its schema fails the test that met it.

tests/conftest.py wraps the test client with `check_response`; the schema is built once per session.
"""

from __future__ import annotations

import json
import re
from functools import cache

from openapi_schema_validator import OAS31Validator, oas31_format_checker

API_PREFIX = "/api/v1/"


@cache
def spec() -> dict:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@cache
def _routes() -> list[tuple[re.Pattern, str]]:
    routes = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/")))
        routes.append((re.compile(f"^{pattern}/?$"), template))
    # A literal segment wins over a parameter (versions/active before versions/{ref}).
    return sorted(routes, key=lambda route: route[1].count("{"))


@cache
def _validator(template: str, method: str, status: str) -> OAS31Validator | None:
    operation = spec()["paths"][template][method]
    response = operation["responses"].get(status) or operation["responses"].get("default")
    assert response is not None, f"{method.upper()} {template} answered {status}, which its schema does not declare"
    content = response.get("content", {}).get("application/json")
    if content is None:
        return None
    schema = {**content["schema"], "components": spec()["components"]}
    return OAS31Validator(schema, format_checker=oas31_format_checker)


def check_response(method: str, path: str, response) -> None:
    if not path.startswith(API_PREFIX) or response.status_code >= 500:
        return
    method = method.lower()
    template = next((t for pattern, t in _routes() if pattern.match(path) and method in spec()["paths"][t]), None)
    if template is None:  # an unknown path or method: the error envelope's own tests cover those
        return
    if not response.get("Content-Type", "").startswith("application/json"):
        return
    validator = _validator(template, method, str(response.status_code))
    body = json.loads(response.content) if response.content else None
    if validator is None:
        raise AssertionError(f"{method.upper()} {path} answered {response.status_code} with a JSON body the schema "
                             f"does not declare")
    problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message[:300]}" for e in problems[:5]]
        raise AssertionError(f"{method.upper()} {path} -> {response.status_code} does not match the schema of "
                             f"{method.upper()} {template}:\n  " + "\n  ".join(lines))
