"""What route handlers depend on: the caller's API key and role, and the one workspace of
the server with the rules for reaching it (one request at a time in the core, analyses
given up after ``api.timeout``, short per-user work on the event loop when it can be)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from portrait.api.observability import Metrics
from portrait.errors import AccessError, ServiceBusyError, TimedOutError, UnauthorizedError
from portrait.model.access import PERMISSIONS, KeyInfo, allows
from portrait.workspace import Workspace

T = TypeVar("T")


class Core:
    """The server's workspace and how requests take turns on it.

    The workspace's caches are not made for concurrent writers, so one request at a time
    holds it (:meth:`hold`), waiting at most ``api.timeout`` seconds for its turn."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.timeout = float(workspace.config["api.timeout"])
        self.lock = threading.RLock()
        self._analyses = ThreadPoolExecutor(max_workers=4, thread_name_prefix="portrait-analysis")

    @contextmanager
    def hold(self) -> Iterator[Workspace]:
        if not self.lock.acquire(timeout=self.timeout):
            raise ServiceBusyError(
                f"the workspace stayed busy for {self.timeout:g} s (api.timeout) with other "
                "requests",
                hint="try again shortly",
            )
        try:
            yield self.workspace
        finally:
            self.lock.release()

    def analysis(self, what: str, work: Callable[[Workspace], T]) -> T:
        """``work`` on the workspace, given up after ``api.timeout`` seconds with a clear
        error. The abandoned work runs on to its end in the background (analyses only read,
        so nothing is left half-done) and its result is dropped."""

        def run() -> T:
            with self.hold() as w:
                return work(w)

        future = self._analyses.submit(run)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            raise TimedOutError(
                f"{what} took longer than {self.timeout:g} s (api.timeout) and was abandoned",
                hint="narrow it (fewer tags, a smaller audience or window) or raise "
                "api.timeout (PORTRAIT_API_TIMEOUT)",
            ) from None

    def now(self, work: Callable[[Workspace], T]) -> T | None:
        """Short work (microseconds: the per-user interfaces; never None) done right here,
        on the event loop, when the workspace is warm and free; else None, at once."""
        done, value = self._now(work)
        return value if done else None

    def _now(self, work: Callable[[Workspace], T]) -> tuple[bool, T | None]:
        """(True, the work's result, None included) when done here; (False, None) when the
        workspace is busy or cold."""
        if self.workspace.is_warm() and self.lock.acquire(blocking=False):
            try:
                return True, work(self.workspace)
            finally:
                self.lock.release()
        return False, None

    async def quick(self, work: Callable[[Workspace], T]) -> T:
        """Short work :meth:`now` when it can be, sparing the hop to a worker thread; in a
        worker thread, waiting its turn, when something else holds the workspace or a new
        profile version's caches are still to be built (the loop keeps answering)."""
        done, value = self._now(work)
        if done:
            return value  # type: ignore[return-value]  # T, None included

        def wait_turn() -> T:
            with self.hold() as w:
                return work(w)

        return await run_in_threadpool(wait_turn)

    def stop(self) -> None:
        """Wait for running work, however long (then nothing is left waiting), and close."""
        with self.lock:
            self.workspace.close()


def caller_key(workspace: Workspace, headers: Headers) -> KeyInfo:
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


def permitted(key: KeyInfo, permission: str) -> KeyInfo:
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
        return permitted(caller_key(request.app.state.workspace, request.headers), permission)

    check.permission = permission  # type: ignore[attr-defined]
    return check


async def _core(request: Request) -> Core:
    core: Core = request.app.state.runner  # async: no thread hop per request
    return core


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


CoreDep = Annotated[Core, Depends(_core)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]

CatalogKey = Annotated[KeyInfo, Depends(needs("catalog:read"))]
AggregateKey = Annotated[KeyInfo, Depends(needs("aggregate:read"))]
SegmentsKey = Annotated[KeyInfo, Depends(needs("segments:read"))]
SegmentsWriteKey = Annotated[KeyInfo, Depends(needs("segments:write"))]
UsersKey = Annotated[KeyInfo, Depends(needs("users:read"))]
CampaignsReadKey = Annotated[KeyInfo, Depends(needs("campaigns:read"))]
CampaignsWriteKey = Annotated[KeyInfo, Depends(needs("campaigns:write"))]
AuditKey = Annotated[KeyInfo, Depends(needs("audit:read"))]
