"""How console handlers reach the core: the server's one workspace, taking turns with API
requests (:class:`portrait.api.deps.Core`: one request at a time, short work on the event
loop when it can be, analyses given up after ``api.timeout``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from portrait.workspace import Workspace

T = TypeVar("T")


class Core(Protocol):
    workspace: Workspace

    async def quick(self, work: Callable[[Workspace], T]) -> T: ...

    def analysis(self, what: str, work: Callable[[Workspace], T]) -> T: ...

    def hold(self) -> AbstractContextManager[Workspace]: ...


def core(request: Request) -> Core:
    runner: Any = request.app.state.runner
    return runner  # type: ignore[no-any-return]


async def quick(request: Request, work: Callable[[Workspace], T]) -> T:
    """Short work (a count, a lookup, a listing): on the event loop when the workspace is free."""
    return await core(request).quick(work)


async def analysis(request: Request, what: str, work: Callable[[Workspace], T]) -> T:
    """Longer work (insight, cross, reports, saving): in a worker thread, within api.timeout."""
    return await run_in_threadpool(core(request).analysis, what, work)


async def write(request: Request, work: Callable[[Workspace], T]) -> T:
    """A write that must not be given up half-way (an import: the files it reads are removed
    once it returns): in a worker thread, taking its turn, with no time limit."""

    def run() -> T:
        with core(request).hold() as ws:
            return work(ws)

    return await run_in_threadpool(run)
