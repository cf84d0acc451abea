"""The OpenAPI document describes every /api route the running server answers, and nothing it does not."""

from __future__ import annotations

import re

from twisted.web.resource import Resource

from callcenter.web.api import openapi_document
from callcenter.web.jsonapi import JsonApi

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def _documented() -> set[tuple[str, str]]:
    doc = openapi_document()
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def _served(root: Resource) -> set[tuple[str, str]]:
    """Every (method, path template) the JSON APIs mounted on ``root`` route, found by walking the tree."""
    found: set[tuple[str, str]] = set()
    seen: set[int] = set()

    def walk(resource: Resource) -> None:
        if id(resource) in seen:
            return
        seen.add(id(resource))
        if isinstance(resource, JsonApi):
            found.update(resource.routes())
        for child in getattr(resource, "children", {}).values():
            walk(child)
        inner = getattr(resource, "_inner", None)
        if isinstance(inner, Resource):
            walk(inner)

    walk(root)
    return found


def test_every_served_api_route_is_documented_and_every_documented_one_served(make_app):
    """The route table reached from the site's root equals the OpenAPI paths (methods included)."""
    app = make_app()
    served = {(m, t) for m, t in _served(app.root) if t.startswith("/api/") or t == "/health"}
    assert len(served) >= 25
    documented = _documented()
    assert sorted(served - documented) == [], f"served but not in callcenter/web/openapi.yaml: {sorted(served - documented)}"
    assert sorted(documented - served) == [], f"documented but not served: {sorted(documented - served)}"


def test_every_operation_has_responses_with_schemas_and_bodies_with_schemas():
    """Each operation names an operationId, each request body and each JSON response has a schema."""
    doc = openapi_document()
    ids = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            ids.append(op["operationId"])
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                assert "schema" in media, (method, path)
            for status, response in op["responses"].items():
                if "$ref" in response or path == "/api/openapi.json":
                    continue
                for media in response.get("content", {}).values():
                    assert "schema" in media, (method, path, status)
                assert status.startswith(("2", "4", "5"))
            params = set(re.findall(r"\{(\w+)\}", path))
            declared = {p.get("name") for p in item.get("parameters", []) + op.get("parameters", [])
                        if p.get("in", "path") == "path"}
            declared |= {doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"]
                         for p in item.get("parameters", []) + op.get("parameters", []) if "$ref" in p}
            assert params <= declared, (path, params - declared)
    assert len(ids) == len(set(ids))


def test_the_document_is_a_valid_openapi_document():
    """The shipped document loads in schemathesis, every operation resolving."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(openapi_document())
    assert len([op.ok() for op in schema.get_all_operations()]) == sum(
        1 for item in openapi_document()["paths"].values() for m in item if m in METHODS)
