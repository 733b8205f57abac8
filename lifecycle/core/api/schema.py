"""Every operation documents the error envelope for every error status it can answer."""

ERROR_STATUSES = {
    "400": "validation_error, invalid_transition or another refused input; the message says what to change",
    "401": "not_authenticated: send Authorization: Token <key>",
    "403": "forbidden (the role lacks the permission) or four_eyes",
    "404": "not_found",
    "405": "method_not_allowed",
    "409": "a state rule refused the request (draft_only, run_in_flight, not_scorable, rollback_guard, ...)",
    "413": "payload_too_large",
    "415": "unsupported_media_type",
    "429": "throttled: too many calls for this token; wait as Retry-After says",
    "503": "service_unavailable: the database is not answering; retry after Retry-After",
}


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorBody", {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "status": {"type": "integer"},
                       "details": {"type": "object", "additionalProperties": {}}},
        "required": ["code", "message", "status"],
    })
    components.setdefault("ErrorEnvelope", {
        "type": "object", "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}}, "required": ["error"],
    })
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                if status not in responses:
                    responses[status] = {"description": description, "content": {"application/json": {"schema": ref}}}
    return result
