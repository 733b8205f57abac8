"""The published schema, finished in one place (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]):

- every operation documents the one error envelope (`Error`) for every error status it can answer, with the
  headers those answers carry (Retry-After on 429 and 503, X-Run-Id on 409 and on an accepted train);
- every operation has a name a person would call (`createModel`, `trainModel`), from OPERATION_IDS below;
- path parameters that are keys or ids declare the pattern the URL accepts.

Views keep their `extend_schema` for what is theirs (bodies, answers, descriptions); nothing here is per view.
"""

from __future__ import annotations

import re

from ..keys import KEY_URL_REGEX, MODEL_REF_URL_REGEX

ERROR_STATUSES = {
    "400": "validation_error, invalid_transition or another refused input; the message says what to change",
    "401": "not_authenticated: send Authorization: Token <key>",
    "403": "forbidden (the role lacks the permission) or four_eyes",
    "404": "not_found",
    "405": "method_not_allowed",
    "409": "a state rule refused the request (draft_only, run_in_flight with X-Run-Id, not_scorable, rollback_guard, ...)",
    "413": "payload_too_large",
    "415": "unsupported_media_type",
    "429": "throttled: too many calls for this token; wait as Retry-After says",
    "503": "service_unavailable: the database (or an external endpoint) is not answering; retry after Retry-After",
}
ERROR_SCHEMA = "Error"  # lifecycle.api.serializers.ErrorSerializer: {"error": {code, message, status, details?}}
RETRY_AFTER = {"description": "seconds to wait before calling again", "schema": {"type": "integer", "minimum": 0}}
RUN_ID = {"description": "the training run in flight (409 run_in_flight) or just queued (202)",
          "schema": {"type": "integer"}}
ERROR_HEADERS = {"409": {"X-Run-Id": RUN_ID}, "429": {"Retry-After": RETRY_AFTER},
                 "503": {"Retry-After": RETRY_AFTER}}

# (method, path) -> operationId. A new endpoint gets its name here: tests/test_schema.py refuses the generated ones.
OPERATION_IDS = {
    ("get", "/api/v1/algorithm-models/"): "listModels",
    ("post", "/api/v1/algorithm-models/"): "createModel",
    ("get", "/api/v1/algorithm-models/{id}/"): "getModel",
    ("put", "/api/v1/algorithm-models/{id}/"): "replaceModel",
    ("patch", "/api/v1/algorithm-models/{id}/"): "updateModel",
    ("delete", "/api/v1/algorithm-models/{id}/"): "archiveModelByDelete",
    ("get", "/api/v1/algorithm-models/{id}/adaptations/"): "listAdaptations",
    ("post", "/api/v1/algorithm-models/{id}/archive/"): "archiveModel",
    ("get", "/api/v1/algorithm-models/{id}/events/"): "listModelEvents",
    ("post", "/api/v1/algorithm-models/{id}/promote/"): "promoteModel",
    ("post", "/api/v1/algorithm-models/{id}/reset-learning/"): "resetLearning",
    ("post", "/api/v1/algorithm-models/{id}/restore/"): "restoreModel",
    ("post", "/api/v1/algorithm-models/{id}/rollback/"): "rollbackModel",
    ("get", "/api/v1/algorithm-models/{id}/runs/"): "listRuns",
    ("get", "/api/v1/algorithm-models/{id}/runs/{run_id}/"): "getRun",
    ("get", "/api/v1/algorithm-models/{id}/samples/"): "listSamples",
    ("post", "/api/v1/algorithm-models/{id}/samples/"): "addSamples",
    ("delete", "/api/v1/algorithm-models/{id}/samples/{sample_id}/"): "deleteSample",
    ("post", "/api/v1/algorithm-models/{id}/samples/delete/"): "deleteSamples",
    ("post", "/api/v1/algorithm-models/{id}/samples/upload/"): "uploadSamples",
    ("post", "/api/v1/algorithm-models/{id}/score/"): "scoreModel",
    ("delete", "/api/v1/algorithm-models/{id}/tags/{name}/"): "untagVersionByName",
    ("post", "/api/v1/algorithm-models/{id}/train/"): "trainModel",
    ("get", "/api/v1/algorithm-models/{id}/traits/"): "listTraits",
    ("post", "/api/v1/algorithm-models/{id}/traits/"): "addTraits",
    ("delete", "/api/v1/algorithm-models/{id}/traits/{trait_key}/"): "deleteTrait",
    ("post", "/api/v1/algorithm-models/{id}/traits/discover/"): "discoverTraits",
    ("post", "/api/v1/algorithm-models/{id}/unpin/"): "unpinModel",
    ("get", "/api/v1/algorithm-models/{id}/versions/"): "listVersions",
    ("get", "/api/v1/algorithm-models/{id}/versions/{ref}/"): "getVersion",
    ("patch", "/api/v1/algorithm-models/{id}/versions/{ref}/"): "updateVersionNotes",
    ("get", "/api/v1/algorithm-models/{id}/versions/{ref}/card/"): "getModelCard",
    ("post", "/api/v1/algorithm-models/{id}/versions/{ref}/tags/"): "tagVersion",
    ("delete", "/api/v1/algorithm-models/{id}/versions/{ref}/tags/{name}/"): "untagVersion",
    ("put", "/api/v1/algorithm-models/{id}/versions/active/"): "activateVersion",
    ("get", "/api/v1/audit-log/"): "listAuditLog",
    ("get", "/api/v1/audit-log/export/"): "exportAuditLog",
    ("get", "/api/v1/decision-traces/"): "listDecisionTraces",
    ("get", "/api/v1/decision-traces/{id}/"): "getDecisionTrace",
    ("get", "/api/v1/experiments/"): "listExperiments",
    ("post", "/api/v1/experiments/"): "createExperiment",
    ("delete", "/api/v1/experiments/"): "deleteExperiments",
    ("get", "/api/v1/experiments/{id}/"): "getExperiment",
    ("put", "/api/v1/experiments/{id}/"): "replaceExperiment",
    ("patch", "/api/v1/experiments/{id}/"): "updateExperiment",
    ("delete", "/api/v1/experiments/{id}/"): "deleteExperiment",
    ("post", "/api/v1/experiments/{id}/assign/"): "assignExperiment",
    ("get", "/api/v1/experiments/{id}/results/"): "getExperimentResults",
    ("get", "/api/v1/families/{family}/"): "getFamily",
    ("put", "/api/v1/families/{family}/"): "updateFamily",
    ("post", "/api/v1/families/{family}/rollback/"): "rollbackFamily",
    ("get", "/api/v1/promotion-requests/"): "listPromotionRequests",
    ("get", "/api/v1/promotion-requests/{id}/"): "getPromotionRequest",
    ("post", "/api/v1/promotion-requests/{id}/approve/"): "approvePromotion",
    ("post", "/api/v1/promotion-requests/{id}/cancel/"): "cancelPromotion",
    ("post", "/api/v1/promotion-requests/{id}/reject/"): "rejectPromotion",
    ("post", "/api/v1/recommend/"): "recommend",
    ("post", "/api/v1/respond/"): "respond",
    ("post", "/api/v1/score-requests/{request_id}/feedback/"): "addScoreFeedback",
    ("get", "/api/v1/webhooks/"): "listWebhooks",
    ("post", "/api/v1/webhooks/"): "createWebhook",
    ("get", "/api/v1/webhooks/{id}/"): "getWebhook",
    ("put", "/api/v1/webhooks/{id}/"): "updateWebhook",
    ("delete", "/api/v1/webhooks/{id}/"): "deleteWebhook",
    ("get", "/api/v1/webhooks/{id}/deliveries/"): "listWebhookDeliveries",
    ("post", "/api/v1/webhooks/{id}/test/"): "testWebhook",
}
# The catalog's CRUD (/api/v1/<plural>/ and /api/v1/<plural>/{key}/) is named by rule: listOffers, createOffer, ...
CATALOG = {"categories": "Category", "channels": "Channel", "decision-flows": "DecisionFlow", "offers": "Offer",
           "outcome-types": "OutcomeType", "suppression-rules": "SuppressionRule", "contact-policies": "ContactPolicy",
           "creatives": "Creative"}
CRUD_VERBS = {("get", False): "list{plural}", ("post", False): "create{one}", ("get", True): "get{one}",
              ("put", True): "replace{one}", ("patch", True): "update{one}", ("delete", True): "delete{one}"}
# Path parameters: what the URL accepts (the rest are digits).
TAG_REGEX = r"[a-z](?:[a-z0-9_.-]*[a-z0-9])?"  # a key that starts with a letter (a number names a version)
PATH_PATTERNS = {"key": KEY_URL_REGEX, "trait_key": KEY_URL_REGEX, "family": KEY_URL_REGEX,
                 "name": TAG_REGEX, "run_id": "[0-9]+", "sample_id": "[0-9]{1,30}"}
METHODS = ("get", "post", "put", "patch", "delete")


def operation_id(method: str, path: str) -> str | None:
    if (method, path) in OPERATION_IDS:
        return OPERATION_IDS[(method, path)]
    match = re.fullmatch(r"/api/v1/([a-z-]+)/(\{key\}/)?", path)
    if match and match.group(1) in CATALOG:
        one = CATALOG[match.group(1)]
        plural = {"Category": "Categories", "ContactPolicy": "ContactPolicies"}.get(one, f"{one}s")
        return CRUD_VERBS[(method, bool(match.group(2)))].format(one=one, plural=plural)
    return None


def _path_pattern(path: str, parameter: dict) -> str | None:
    name = parameter["name"]
    if name == "id":
        # A model is addressed by id or key, a webhook or a promotion request by its number; an experiment (id or
        # key) and a decision trace (id or recommendation id) take either.
        if path.startswith("/api/v1/algorithm-models/"):
            return MODEL_REF_URL_REGEX
        return "[0-9]+" if path.startswith(("/api/v1/webhooks/", "/api/v1/promotion-requests/")) else None
    return PATH_PATTERNS.get(name)


def _any_or_null(node):
    """drf-spectacular writes a nullable JSONField as oneOf [{}, null], which null matches twice (so never): any
    value is simply {}."""
    if isinstance(node, dict):
        if any(option == {} for option in node.get("oneOf", ())):
            del node["oneOf"]
        for value in node.values():
            _any_or_null(value)
    elif isinstance(node, list):
        for value in node:
            _any_or_null(value)


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closed_request_bodies(result) -> None:
    """Input serializers refuse fields they do not know (StrictSerializer): every object a request body holds says
    so with additionalProperties false, so that a client or a fuzzer does not send them."""
    schemas = result.get("components", {}).get("schemas", {})
    todo = [name for item in result.get("paths", {}).values() for method in METHODS if method in item
            for name in _refs(item[method].get("requestBody", {}))]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        schema = schemas[name]
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        todo.extend(_refs(schema))


def finish_schema(result, generator, request, public):
    _any_or_null(result.get("components", {}))
    _closed_request_bodies(result)
    components = result.setdefault("components", {}).setdefault("schemas", {})
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    assert ERROR_SCHEMA in components, "the error envelope's serializer is not in the schema"
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            name = operation_id(method, path)
            if name:
                operation["operationId"] = name
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    pattern = _path_pattern(path, parameter)
                    if pattern:
                        parameter["schema"] = {**parameter.get("schema", {}), "type": "string",
                                               "pattern": f"^{pattern}$"}
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    # One shape for every error, whichever serializer or layer the view named.
                    response["content"] = {"application/json": {"schema": ref}}
                    if status in ERROR_HEADERS:
                        response.setdefault("headers", {}).update(ERROR_HEADERS[status])
            if operation.get("operationId") == "trainModel" and "202" in responses:
                responses["202"].setdefault("headers", {})["X-Run-Id"] = {**RUN_ID, "required": True}
    return result
