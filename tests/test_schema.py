"""The published schema as a generated client reads it: names, bodies, nullability and errors."""

import pytest

from tests.schema_check import spec

METHODS = ("get", "post", "put", "patch", "delete")


def operations():
    for path, item in spec()["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_operation_has_a_name_a_person_would_call():
    names = [op["operationId"] for _, _, op in operations()]
    assert len(names) == len(set(names))
    assert [n for n in names if "_" in n or n.startswith("v1")] == []
    assert {"createModel", "trainModel", "activateVersion", "archiveModel", "scoreModel", "untagVersion"} <= set(names)


def test_bodies_are_json_only_except_the_upload():
    media = {(method, path): sorted(op["requestBody"]["content"]) for method, path, op in operations()
             if "requestBody" in op}
    assert media.pop(("post", "/api/v1/algorithm-models/{id}/samples/upload/")) == ["multipart/form-data"]
    assert media.pop(("post", "/api/v1/algorithm-models/{id}/score/")) == ["application/json", "text/plain"]
    assert {tuple(types) for types in media.values()} == {("application/json",)}


def test_nullability_is_openapi_3_1():
    assert spec()["openapi"].startswith("3.1")
    assert [node for node in walk(spec()) if "nullable" in node] == []
    assert [node for node in walk(spec()) if {} in node.get("oneOf", [])] == []


@pytest.mark.parametrize("status", ["400", "404", "405", "409", "413", "415", "429", "503"])
def test_every_error_status_has_the_one_error_shape(status):
    for method, path, op in operations():
        answer = op["responses"][status]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
            method, path)
        if status in ("429", "503"):
            assert "Retry-After" in answer["headers"]
