"""The HTTP API: a FastAPI app over one workspace, for other systems (personalisation,
push, CRM) to call. Route handlers parse, check the caller's role, call one facade method and
return its result; the logic lives in the core, as for the CLI.

Every ``/v1`` route declares the permission it needs (:mod:`portrait.model.access`); the caller
sends its API key as ``Authorization: Bearer pk_…`` (or ``X-API-Key``). Errors are JSON:
``{"error": {"code", "message", "where", "hint", …}}`` with the code of the Portrait error, and
bad input is a 4xx, never a 500. Reads of individual users are written to the audit log.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.datastructures import Headers

from portrait import workspace as ws_api
from portrait.access import KeyInfo
from portrait.api.fastpath import FastGet
from portrait.api.guard import BodyGuard
from portrait.api.observability import Metrics, observe
from portrait.errors import (
    AccessError,
    InputError,
    NotFoundError,
    PortraitError,
    ServiceBusyError,
    TimedOutError,
    UnauthorizedError,
)
from portrait.model.access import PERMISSIONS, allows

API_VERSION = "v1"
MAX_MEMBERSHIP = 1000  # user ids × segments per membership request, at most 1000 user ids
T = TypeVar("T")
MAX_BODY = 64 * 2**20  # request bodies (an ID-list upload is the largest) up to 64 MiB


class CountRequest(BaseModel):
    rule: str = Field(min_length=1, max_length=20_000, description='A rule, e.g. city = "北京".')


class SegmentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    rule: str = Field(min_length=1, max_length=20_000)
    mode: str = "dynamic"
    description: str = ""


class InsightRequest(BaseModel):
    target: str = Field(min_length=1, max_length=20_000, description="A segment or a rule.")
    baseline: str | None = None
    tags: list[str] | None = None
    min_count: int = Field(default=30, ge=0)
    top: int = Field(default=30, ge=0, le=10_000)
    chart: bool = False


class CrossRequest(BaseModel):
    audiences: list[str] | None = None
    min_support: float = Field(default=0.0, ge=0, le=1)
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    chart: bool = False


class ResponseEvent(BaseModel):
    campaign: str
    user_id: str
    response: str
    ts: str
    revenue: float | None = None


class ResponsesRequest(BaseModel):
    events: list[ResponseEvent] = Field(min_length=1, max_length=100_000)


class MembershipRequest(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=MAX_MEMBERSHIP)
    segments: list[str] = Field(min_length=1, max_length=200)


def _caller(workspace: ws_api.Workspace, headers: Headers) -> KeyInfo:
    """The caller's active key, from ``Authorization: Bearer pk_…`` or ``X-API-Key``."""
    token = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    if not token:
        raise UnauthorizedError(
            "an API key is needed", hint="send Authorization: Bearer pk_… (portrait keys create)"
        )
    # A server remembers verified keys (one change-counter read per request); keys and the
    # audit log need no core lock.
    key: KeyInfo | None = workspace.keys.verify(token)
    if key is None:
        raise UnauthorizedError("the API key is unknown, revoked or expired")
    return key


def _permitted(key: KeyInfo, permission: str) -> KeyInfo:
    """``key``, when its role has ``permission`` (else 403)."""
    if not allows(key.role, permission):
        raise AccessError(
            f"role '{key.role}' may not do this (needs {permission})", needs=permission
        )
    return key


def needs(permission: str) -> Callable[..., Awaitable[KeyInfo]]:
    """A dependency: the caller's key, when its role has ``permission`` (else 403). One
    dependency reading the headers itself: nested dependencies with declared header
    parameters cost more per request than the personalisation routes' own work."""
    assert permission in PERMISSIONS, permission

    async def check(request: Request) -> KeyInfo:
        return _permitted(_caller(request.app.state.workspace, request.headers), permission)

    check.permission = permission  # type: ignore[attr-defined]
    return check


CatalogKey = Annotated[KeyInfo, Depends(needs("catalog:read"))]
AggregateKey = Annotated[KeyInfo, Depends(needs("aggregate:read"))]
SegmentsKey = Annotated[KeyInfo, Depends(needs("segments:read"))]
USERS_READ = "users:read"
UsersKey = Annotated[KeyInfo, Depends(needs(USERS_READ))]
AuditKey = Annotated[KeyInfo, Depends(needs("audit:read"))]
SegmentsWriteKey = Annotated[KeyInfo, Depends(needs("segments:write"))]
CampaignsReadKey = Annotated[KeyInfo, Depends(needs("campaigns:read"))]
CampaignsWriteKey = Annotated[KeyInfo, Depends(needs("campaigns:write"))]
MAX_PAGE = 10_000


def _error_response(exc: PortraitError) -> JSONResponse:
    """The JSON error body and status of a Portrait error (every route's, one place)."""
    body: dict[str, Any] = {**exc.to_dict(), **exc.extra}
    return JSONResponse({"error": body}, status_code=exc.http_status)


def _invalid_response(exc: RequestValidationError) -> JSONResponse:
    """422 for a request the route's declared types refuse, in the error shape of every
    route, naming each field and what was wrong, and never echoing the input (it may be
    large, or personal)."""
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


def _segments_answer(w: ws_api.Workspace, key: KeyInfo, user_id: str) -> dict[str, Any]:
    """The personalisation answer: the saved segments ``user_id`` is in (read audited)."""
    return {"user_id": user_id, "segments": w.users.segments_of(user_id, key.caller)}


def _rows_and_chart(
    rows: list[dict[str, Any]], chart: bool, spec: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """A report's rows, with its chart specification when asked for."""
    return {"rows": rows, **({"chart": spec()} if chart else {})}


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
    metrics = Metrics()
    app.state.metrics = metrics

    lock = threading.RLock()  # the workspace's caches are not made for concurrent writers
    timeout = float(ws.config["api.timeout"])
    analyses = ThreadPoolExecutor(max_workers=4, thread_name_prefix="portrait-analysis")

    @contextmanager
    def core() -> Iterator[ws_api.Workspace]:
        if not lock.acquire(timeout=timeout):
            raise ServiceBusyError(
                f"the workspace stayed busy for {timeout:g} s (api.timeout) with other requests",
                hint="try again shortly",
            )
        try:
            yield ws
        finally:
            lock.release()

    def analysis(what: str, work: Callable[[ws_api.Workspace], T]) -> T:
        """``work`` on the workspace, given up after ``api.timeout`` seconds with a clear
        error. The abandoned work runs on to its end in the background (analyses only read,
        so nothing is left half-done) and its result is dropped."""

        def run() -> T:
            with core() as w:
                return work(w)

        future = analyses.submit(run)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise TimedOutError(
                f"{what} took longer than {timeout:g} s (api.timeout) and was abandoned",
                hint="narrow it (fewer tags, a smaller audience or window) or raise "
                "api.timeout (PORTRAIT_API_TIMEOUT)",
            ) from None

    app.state.core = core

    def now(work: Callable[[ws_api.Workspace], T]) -> T | None:
        """Short work (microseconds: the per-user interfaces; never None) done right here,
        on the event loop, when the workspace is warm and free; else None, at once."""
        if ws.is_warm() and lock.acquire(blocking=False):
            try:
                return work(ws)
            finally:
                lock.release()
        return None

    async def quick(work: Callable[[ws_api.Workspace], T]) -> T:
        """Short work :func:`now` when it can be, sparing the hop to a worker thread; in a
        worker thread, waiting its turn, when something else holds the workspace or a new
        profile version's caches are still to be built (the loop keeps answering)."""
        done = now(work)
        if done is not None:
            return done

        def wait_turn() -> T:
            with core() as w:
                return work(w)

        return await run_in_threadpool(wait_turn)

    app.state.workspace = ws

    @app.exception_handler(PortraitError)
    async def portrait_error(_: Request, exc: PortraitError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _invalid_response(exc)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    warmed = threading.Event()

    def warm_up() -> None:
        try:
            with core() as w:
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

    def stop() -> None:
        with lock:  # waits for running work, however long: then nothing is left waiting
            ws.close()

    app.state.warm_up = warm_up
    app.state.stop = stop

    @app.get("/readyz", tags=["service"])
    def readyz() -> JSONResponse:
        if not warmed.is_set():
            return JSONResponse({"status": "warming up"}, status_code=503)
        try:
            version = ws.built.version  # the live version's pointer, read without the core lock
        except PortraitError as exc:
            return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", "profile_version": version, "worker": os.getpid()})

    @app.get("/v1/tags", tags=["catalog"])
    def tags(key: CatalogKey) -> list[dict[str, Any]]:
        with core() as w:
            return w.tag_summaries(caller=key.caller)

    @app.get("/v1/tags/{name}", tags=["catalog"])
    def tag(name: str, key: CatalogKey, dialect: str = "duckdb") -> dict[str, Any]:
        """One tag: definition, generated SQL, coverage, null rate and value distribution."""
        with core() as w:
            return w.tag_detail(name, dialect, caller=key.caller)

    @app.post("/v1/count", tags=["audiences"])
    def count(body: CountRequest, key: AggregateKey) -> dict[str, Any]:
        with metrics.evaluations.time():
            return analysis("the count", lambda w: w.count(body.rule, caller=key.caller))

    @app.get("/v1/segments", tags=["segments"])
    def segments(key: SegmentsKey) -> list[dict[str, Any]]:
        with core() as w:
            return w.segment_list(key.caller)

    @app.get("/v1/segments/{name}", tags=["segments"])
    def segment(name: str, key: SegmentsKey) -> dict[str, Any]:
        with core() as w:
            return w.segment_info(name, key.caller)

    @app.post("/v1/segments", tags=["segments"])
    def create_segment(body: SegmentRequest, key: SegmentsWriteKey) -> dict[str, Any]:
        with core() as w, metrics.evaluations.time():
            return w.audiences.segments.create(
                body.name,
                body.rule,
                mode=body.mode,
                description=body.description,
                caller=key.caller,
            )

    @app.post("/v1/segments/{name}/refresh", tags=["segments"])
    def refresh_segment(name: str, key: SegmentsWriteKey) -> dict[str, Any]:
        with core() as w:
            with metrics.evaluations.time():
                w.audiences.segments.refresh(name, key.caller)
            return w.audiences.segments.info(name, key.caller)

    @app.delete("/v1/segments/{name}", tags=["segments"])
    def delete_segment(name: str, key: SegmentsWriteKey) -> dict[str, Any]:
        with core() as w:
            w.audiences.segments.delete(name, key.caller)
        return {"deleted": name}

    @app.get("/v1/segments/{a}/overlap/{b}", tags=["segments"])
    def segment_overlap(a: str, b: str, key: SegmentsKey) -> dict[str, Any]:
        """Sizes of A, B, A∩B, A∪B, A only, B only and the Jaccard index."""
        with core() as w:
            return w.segment_overlap(a, b, key.caller)

    @app.get("/v1/segments/{name}/history", tags=["segments"])
    def segment_history(name: str, key: SegmentsKey) -> list[dict[str, Any]]:
        with core() as w:
            return w.segment_history(name, key.caller)

    @app.get("/v1/segments/{name}/members", tags=["segments"])
    def segment_members(
        name: str, key: UsersKey, cursor: int = -1, limit: int = 1000
    ) -> dict[str, Any]:
        """Members' user ids in uid order, a page at a time: pass ``next_cursor`` back."""
        with core() as w:
            return w.audiences.segments.members_page(name, cursor, limit, key.caller)

    @app.post("/v1/insight", tags=["insight"])
    def insight(body: InsightRequest, key: AggregateKey) -> dict[str, Any]:
        from portrait import charts

        report = analysis(
            "the insight report",
            lambda w: w.insight(
                body.target,
                baseline=body.baseline,
                tags=body.tags,
                min_count=body.min_count,
                caller=key.caller,
            ),
        )
        result = report.to_dict(body.top)
        if body.chart:
            result["chart"] = charts.insight_chart(result["rows"], title=f"Insight: {body.target}")
        return result

    @app.post("/v1/insight/distinctive", tags=["insight"])
    def distinctive(body: InsightRequest, key: AggregateKey) -> dict[str, Any]:
        from portrait import charts

        rows = analysis(
            "the distinctive-features report",
            lambda w: w.distinctive(
                body.target,
                baseline=body.baseline,
                top=body.top or 10,
                min_count=body.min_count,
                caller=key.caller,
            ),
        )
        return _rows_and_chart(
            rows,
            body.chart,
            lambda: charts.distinctive_chart(rows, title=f"Distinctive: {body.target}"),
        )

    @app.post("/v1/cross", tags=["insight"])
    def cross(body: CrossRequest, key: AggregateKey) -> dict[str, Any]:
        from portrait import charts

        rows = analysis(
            "the cross analysis",
            lambda w: w.cross(
                body.audiences or None,
                min_support=body.min_support,
                min_confidence=body.min_confidence,
                caller=key.caller,
            ),
        )
        return _rows_and_chart(rows, body.chart, lambda: charts.cross_chart(rows))

    @app.get("/v1/rfm", tags=["insight"])
    def rfm(
        key: AggregateKey, window: str | None = None, scores: int | None = None, chart: bool = False
    ) -> dict[str, Any]:
        from portrait import charts

        rows = analysis(
            "the RFM report",
            lambda w: w.rfm_report(window=window, scores=scores, caller=key.caller),
        )
        return _rows_and_chart(rows, chart, lambda: charts.rfm_chart(rows))

    @app.get("/v1/campaigns", tags=["campaigns"])
    def campaigns(key: CampaignsReadKey) -> list[dict[str, Any]]:
        with core() as w:
            return w.campaigns.all(key.caller)

    @app.post("/v1/campaigns", tags=["campaigns"])
    def create_campaign(body: dict[str, Any], key: CampaignsWriteKey) -> dict[str, Any]:
        with core() as w:
            return w.campaigns.create(body, caller=key.caller)

    @app.get("/v1/campaigns/{name}", tags=["campaigns"])
    def campaign(name: str, key: CampaignsReadKey) -> dict[str, Any]:
        with core() as w:
            return w.campaigns.show(name, key.caller)

    @app.post("/v1/campaigns/{name}/dry-run", tags=["campaigns"])
    def dry_run(name: str, key: CampaignsWriteKey) -> dict[str, Any]:
        """Sizes, cap suppressions and rendered samples (personal data masked unless the
        key's role may see it); under ``api.timeout`` like every analysis; audited."""
        plan: dict[str, Any] = analysis(
            "the dry run",
            lambda w: w.campaigns.dry_run(name, caller=key.caller),
        )
        return plan

    @app.post("/v1/campaigns/{name}/launch", tags=["campaigns"])
    def launch(name: str, key: CampaignsWriteKey) -> dict[str, Any]:
        with core() as w:
            launched = w.campaigns.launch(name, caller=key.caller)
        for outcome, added in launched.added.items():
            metrics.messages.labels(launched.channel, outcome).inc(added)
        return launched.report.to_dict()

    @app.post("/v1/campaigns/{name}/cancel", tags=["campaigns"])
    def cancel(name: str, key: CampaignsWriteKey) -> dict[str, Any]:
        with core() as w:
            return w.campaigns.cancel(name, key.caller)

    @app.get("/v1/campaigns/{name}/report", tags=["campaigns"])
    def campaign_report(name: str, key: CampaignsReadKey, run: int | None = None) -> dict[str, Any]:
        if run is not None and not 1 <= run <= 2**31 - 1:
            raise InputError("run is a launch's number (1, 2, …)", where="run")
        with core() as w:
            return w.campaigns.report(name, run, key.caller)

    @app.post("/v1/events/responses", tags=["campaigns"])
    def responses(body: ResponsesRequest, key: CampaignsWriteKey) -> dict[str, Any]:
        import pyarrow as pa

        table = pa.Table.from_pylist([r.model_dump() for r in body.events])
        with core() as w:
            return w.campaigns.record_responses(table, key.caller)

    @app.post("/v1/id-lists/{name}", tags=["segments"])
    def upload_ids(
        name: str,
        key: SegmentsWriteKey,
        file: Annotated[UploadFile, File(description="One id a line, or a CSV (with column).")],
        column: Annotated[str | None, Form()] = None,
        replace: Annotated[bool, Form()] = False,
    ) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (Path(file.filename or "ids.txt").name or "ids.txt")
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            with core() as w:
                report = w.audiences.segments.upload_ids(
                    name, path, column=column, replace=replace, caller=key.caller
                )
        result: dict[str, Any] = report.to_dict()
        result.pop("unmatched_file", None)  # server paths mean nothing to the caller
        result["source"] = file.filename
        return result

    @app.get("/v1/segments/{name}/export", tags=["segments"])
    def export_segment(
        name: str,
        key: UsersKey,
        format: str = "csv",
        columns: str = "",
        unmask: bool = False,
    ) -> FileResponse:
        """The members with tag columns as a CSV or Parquet file (PII masked unless an admin
        asks for ``unmask``), written to a temporary file and streamed from it."""
        if format not in ("csv", "parquet"):
            raise InputError("format is csv or parquet", where="format")
        folder = tempfile.mkdtemp(prefix="portrait-export-")
        path = Path(folder) / f"{name}.{format}"
        try:
            wanted = [c.strip() for c in columns.split(",") if c.strip()] or None
            analysis(
                "the export",
                lambda w: w.audiences.export(name, path, wanted, unmask=unmask, caller=key.caller),
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FileResponse(
            path,
            filename=path.name,
            media_type="text/csv" if format == "csv" else "application/vnd.apache.parquet",
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )

    @app.get("/v1/users/{user_id}", tags=["users"])
    def user(user_id: str, key: UsersKey, unmask: bool = False) -> dict[str, Any]:
        return analysis(
            "the user profile", lambda w: w.users.user(user_id, unmask=unmask, caller=key.caller)
        )

    @app.get("/v1/users/{user_id}/segments", tags=["users"])
    async def user_segments(user_id: str, key: UsersKey) -> dict[str, Any]:
        return await quick(lambda w: _segments_answer(w, key, user_id))

    @app.post("/v1/membership", tags=["users"])
    async def membership(body: MembershipRequest, key: UsersKey) -> dict[str, Any]:
        result = await quick(lambda w: w.users.membership(body.user_ids, body.segments, key.caller))
        return {"membership": result}

    @app.get("/v1/audit", tags=["admin"])
    def audit(key: AuditKey, limit: int = 100) -> list[dict[str, Any]]:
        with core() as w:
            return w.access.audit_entries(limit, caller=key.caller)

    @app.exception_handler(404)
    async def not_found(_: Request, exc: Any) -> JSONResponse:
        error = NotFoundError(str(getattr(exc, "detail", "not found")))
        return JSONResponse({"error": error.to_dict()}, status_code=404)

    # the personalisation routes take most of the traffic: they are matched first
    hot = {"/v1/users/{user_id}/segments", "/v1/membership"}
    app.router.routes.sort(key=lambda route: getattr(route, "path", "") not in hot)
    if fast_path:

        def segments_now(headers: Headers, user_id: str) -> dict[str, Any] | None:
            key = _permitted(_caller(ws, headers), USERS_READ)
            return now(lambda w: _segments_answer(w, key, user_id))

        app.add_middleware(
            FastGet,
            template="/v1/users/{user_id}/segments",
            answer=segments_now,
            error=_error_response,
        )
    app.add_middleware(
        BodyGuard,
        max_body=MAX_BODY,
        authenticate=lambda headers: _caller(ws, headers),
        error=_error_response,
    )
    observe(app, metrics)  # outermost: it times and counts every request
    _document_keys(app)
    return app


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


def _document_keys(app: FastAPI) -> None:
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
