"""Errors as the API answers them: ``{"error": {"code", "message", "where", "hint", …}}`` with
the status the error's class declares (:mod:`portrait.errors`); bad input is a 4xx, never a
500, and the input is never echoed back (it may be large, or personal)."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from portrait.errors import NotFoundError, PortraitError


def error_response(exc: PortraitError) -> JSONResponse:
    """The JSON error body and status of a Portrait error (every route's, one place)."""
    body: dict[str, Any] = {**exc.to_dict(), **exc.extra}
    return JSONResponse({"error": body}, status_code=exc.http_status)


def invalid_response(exc: RequestValidationError) -> JSONResponse:
    """422 for a request the route's declared types refuse, naming each field and what was
    wrong."""
    errors = [
        {
            "where": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", ""))[:200],
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()[:20]
    ]
    first = errors[0] if errors else {"where": None, "message": "invalid request"}
    body = {
        "code": "bad_input",
        "message": f"invalid request: {first['where']}: {first['message']}",
        "where": first["where"],
        "hint": "see /docs for the request's schema",
        "errors": errors,
    }
    return JSONResponse({"error": body}, status_code=422)


def not_found_response(detail: object) -> JSONResponse:
    """404 for a path no route has, in the same error shape."""
    error = NotFoundError(str(detail or "not found"))
    return JSONResponse({"error": error.to_dict()}, status_code=404)
