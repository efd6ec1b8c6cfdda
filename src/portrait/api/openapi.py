"""The OpenAPI document: API keys declared as security schemes, every error status listed
on every route with the error body's schema; and the permission each route needs (read from
its dependencies, for the role tests)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "where": {"type": ["string", "null"]},
                "hint": {"type": ["string", "null"]},
            },
        }
    },
}
ERROR_RESPONSES = {
    "400": "Bad input: a rule, a parameter or a value (code and position in the error)",
    "401": "No API key, or an unknown, revoked or expired one",
    "403": "The key's role may not do this (or may not select by personal data)",
    "404": "No such tag, segment, ID list, campaign or user",
    "409": "The workspace is busy with a write (a build or a launch)",
    "413": "The request body is over the limit",
    "422": "The request does not have the declared shape",
    "429": "The caller's privacy budget for the day is spent",
    "503": "The workspace stayed busy with other requests for api.timeout",
    "504": "The work took longer than api.timeout and was abandoned",
}


def document(app: FastAPI) -> None:
    """Declare the API key in the OpenAPI document (the /docs page's Authorize button)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "pk_… API key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        components = schema["components"]
        components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for path, operations in schema["paths"].items():
            if path.startswith("/v1/"):
                for method, operation in operations.items():
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
                    responses = operation.setdefault("responses", {})
                    for status, text in ERROR_RESPONSES.items():
                        if status == "413" and method not in ("post", "put", "patch"):
                            continue
                        content = {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        }
                        responses.setdefault(status, {"description": text, "content": content})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def route_permissions(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """(method, path) → the permission a route needs (None: open), for the role tests."""
    found: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        permission = None
        for dep in dependant.dependencies:
            permission = getattr(dep.call, "permission", None) or permission
        for method in methods:
            found[(method, route.path)] = permission  # type: ignore[attr-defined]
    return found
