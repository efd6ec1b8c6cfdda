"""The HTTP API: a FastAPI app over one workspace, for other systems (personalisation,
push, CRM) to call. This module only assembles it: one router per resource
(:mod:`portrait.api.routes`), the dependencies they share (:mod:`portrait.api.deps`), the
error shape (:mod:`portrait.api.errors`), the OpenAPI document (:mod:`portrait.api.openapi`)
and the middleware (body limit, fast path, metrics). Route handlers parse, call one facade
service and return its result; who may see what, and what is audited, is the core's.

Every ``/v1`` route declares the permission it needs (:mod:`portrait.model.access`); the caller
sends its API key as ``Authorization: Bearer pk_…`` (or ``X-API-Key``).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from portrait import workspace as ws_api
from portrait.api.deps import Core, caller_key, permitted
from portrait.api.errors import error_response, invalid_response, not_found_response
from portrait.api.fastpath import FastGet
from portrait.api.guard import BodyGuard
from portrait.api.observability import Metrics, observe
from portrait.api.openapi import document, route_permissions
from portrait.api.routes import ROUTERS
from portrait.api.routes.users import HOT, segments_answer
from portrait.errors import PortraitError

API_VERSION = "v1"
MAX_BODY = 64 * 2**20  # request bodies (an ID-list upload is the largest) up to 64 MiB

__all__ = ["API_VERSION", "MAX_BODY", "create_app", "route_permissions"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Warm the caches in the background (/healthz answers at once, /readyz once warm);
    group audit writes while serving; write what is waiting when stopping."""
    threading.Thread(target=app.state.warm_up, name="portrait-warm-up", daemon=True).start()
    try:
        yield
    finally:
        app.state.stop()


def create_app(workspace: Path | None = None, *, fast_path: bool = True) -> FastAPI:
    """The app for the workspace at ``workspace`` (default: as the CLI finds it).

    ``fast_path=False`` sends ``GET /v1/users/{user_id}/segments`` through the framework's
    route too (:mod:`portrait.api.fastpath`; same answers, slower: for comparisons)."""
    app = FastAPI(
        lifespan=_lifespan,
        title="Portrait",
        version=API_VERSION,
        description="User profiles, audiences, insight and campaigns over HTTP.",
    )
    ws = ws_api.open_workspace(workspace)
    core = Core(ws)
    warmed = threading.Event()

    def warm_up() -> None:
        try:
            with core.hold() as w:
                w.audit.write_behind()
                w.keys.remember_verified()
                w.warm()
        except PortraitError:
            pass  # /readyz reports it
        finally:
            # What exists now lives as long as the worker: kept out of the garbage collector's
            # full passes, which otherwise stop a warm worker for ~80 ms each (the slowest
            # requests under load)
            gc.collect()
            gc.freeze()
            warmed.set()

    app.state.workspace = ws
    app.state.runner = core
    app.state.core = core.hold  # tests hold the workspace as another request would
    app.state.metrics = metrics = Metrics()
    app.state.warmed = warmed
    app.state.warm_up = warm_up
    app.state.stop = core.stop

    @app.exception_handler(PortraitError)
    async def portrait_error(_: Request, exc: PortraitError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_response(exc)

    @app.exception_handler(404)
    async def not_found(_: Request, exc: Any) -> JSONResponse:
        return not_found_response(getattr(exc, "detail", None))

    # The routers' routes join the app's own list (include_router would keep each router as
    # one opaque entry), so they can be ordered, and found by path by the fast path and the
    # role tests: the personalisation routes take most of the traffic, they are matched first.
    routes = [route for router in ROUTERS for route in router.routes]
    app.router.routes.extend(sorted(routes, key=lambda r: getattr(r, "path", "") not in HOT))
    if fast_path:

        def segments_now(headers: Headers, user_id: str) -> dict[str, Any] | None:
            key = permitted(caller_key(ws, headers), "users:read")
            return core.now(lambda w: segments_answer(w, key, user_id))

        app.add_middleware(
            FastGet,
            template="/v1/users/{user_id}/segments",
            answer=segments_now,
            error=error_response,
        )
    app.add_middleware(
        BodyGuard,
        max_body=MAX_BODY,
        authenticate=lambda headers: caller_key(ws, headers),
        error=error_response,
    )
    observe(app, metrics)  # outermost: it times and counts every request
    document(app)
    return app
