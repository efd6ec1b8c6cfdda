"""The console added to the server's app: its pages (one router per page group in
:mod:`portrait.web.pages`), its static files, its security headers, and how it answers when
the user must sign in, sends no CSRF token, or asks for something the core refuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from portrait.errors import InputError, PortraitError
from portrait.web.pages import ROUTERS
from portrait.web.render import is_fragment, render
from portrait.web.security import SecurityHeaders
from portrait.web.session import CsrfRefused, SignInNeeded

STATIC = "/static"
# paths that are the HTTP API's (or the service's), not the console's
API_PATHS = ("/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")


def mount(app: FastAPI) -> None:
    """Add the console to ``app`` (the HTTP API's, whose ``state.runner`` is the core)."""
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    folder = resources.files("portrait.web") / "static"
    app.mount(STATIC, StaticFiles(directory=str(folder)), name="static")
    app.add_middleware(SecurityHeaders)

    api_error: Callable[[Request, Any], Awaitable[Response]] | None = app.exception_handlers.get(
        PortraitError
    )  # type: ignore[assignment]

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = "/login" if exc.next_path in ("", "/") else f"/login?next={exc.next_path}"
        if is_fragment(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return _problem(
            request,
            CsrfError(
                "the request came without this session's security token (CSRF) and was refused",
                hint="reload the page and try again",
            ),
        )

    api_invalid: Callable[[Request, Any], Awaitable[Response]] | None = app.exception_handlers.get(
        RequestValidationError
    )  # type: ignore[assignment]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """A field the route's declared types refuse (too long, not a number, missing): on a
        console page, a problem next to the form like any other, naming the field."""
        if request.url.path.startswith(API_PATHS):
            assert api_invalid is not None
            return await api_invalid(request, exc)
        first = exc.errors()[0] if exc.errors() else {}
        field = str((first.get("loc") or ("", "request"))[-1])
        message = str(first.get("msg", "a value is not valid"))[:200]
        return _problem(
            request,
            InputError(f"{field}: {message}", where=field, hint="correct it and send again"),
        )

    @app.exception_handler(PortraitError)
    async def portrait_error(request: Request, exc: PortraitError) -> Response:
        if getattr(request.state, "console", False):
            return _problem(request, exc)
        assert api_error is not None
        return await api_error(request, exc)


class CsrfError(PortraitError):
    code = "csrf"
    http_status = 403


def _problem(request: Request, exc: PortraitError) -> Response:
    """The core's refusal or the input's problem, next to what caused it (a fragment), as a
    page, or as JSON to the builder's script, with the same status the API would answer."""
    wants_json = getattr(request.state, "wants_json", False) or (
        request.headers.get("content-type", "").startswith("application/json")
        or request.headers.get("accept", "").startswith("application/json")
    )
    if wants_json:
        body = {"problem": exc.to_dict() | {k: v for k, v in exc.extra.items() if k != "needs"}}
        return JSONResponse(body, status_code=exc.http_status)
    template = "_problem.html" if is_fragment(request) else "problem.html"
    headers = {}
    if exc.http_status == 429 and "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    return render(request, template, {"problem": exc}, status=exc.http_status, headers=headers)
