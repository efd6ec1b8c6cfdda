"""Saved segments (人群包): the list with each one's size, kind, last refresh and a sparkline of
its size; a segment's page with its history, rule, dependents, refresh, edit (guarded by the
version the form was loaded with), overlap with another segment, a sample of its members, an
export download, "open in the builder" and delete.

Every call goes through ``ws.audiences.segments`` / ``ws.audiences`` with the session's
caller: sizes released, rules masked, members and exports refused or masked, and every change
and read of members audited, in the core.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask

from portrait.charts import history_chart
from portrait.charts.distribution import overlap_chart
from portrait.charts.segments import size_sparkline
from portrait.errors import InputError
from portrait.model.access import Caller
from portrait.web.deps import analysis, quick
from portrait.web.render import render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()
SAMPLE = 20
"""Members shown in a sample."""
FORMATS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _href(name: str) -> str:
    return "/segments/" + quote(name, safe="")


@router.get("/segments")
async def segment_list(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller

    def work(ws: Workspace) -> list[dict[str, Any]]:
        service = ws.audiences.segments
        return [
            s | {"history": service.history(s["name"], caller=caller)}
            for s in service.all(caller=caller)
        ]

    segments = await quick(request, work)
    for s in segments:
        s["sparkline"] = size_sparkline(s.pop("history"))
    return render(request, "segments/list.html", {"segments": segments})


def _detail(caller: Caller, name: str) -> Any:
    def work(ws: Workspace) -> dict[str, Any]:
        service = ws.audiences.segments
        info = service.info(name, caller=caller)
        history = service.history(name, caller=caller)
        others = [s["name"] for s in service.all(caller=caller) if s["name"] != name]
        columns = [
            t for t in ws.catalog.summaries(caller=caller) if t.get("last_built") is not None
        ]
        return {"segment": info, "history": history, "others": others, "columns": columns}

    return work


@router.get("/segments/{name}")
async def segment_page(
    request: Request,
    session: SignedIn,
    name: str,
    saved: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    context = await quick(request, _detail(session.caller, name))
    rows = context["history"]
    context["chart"] = history_chart(rows, title=name) if rows else None
    context["saved"] = saved
    return render(request, "segments/detail.html", context)


@router.post("/segments/{name}/refresh")
async def refresh(request: Request, session: Changing, name: str) -> HTMLResponse:
    caller = session.caller

    def work(ws: Workspace) -> dict[str, Any]:
        ws.audiences.segments.refresh(name, caller=caller)
        return ws.audiences.segments.info(name, caller=caller)

    info = await analysis(request, "refreshing the segment", work)
    return render(request, "segments/_summary.html", {"segment": info, "refreshed": True})


@router.post("/segments/{name}/edit")
async def edit(
    request: Request,
    session: Changing,
    name: str,
    rule: Annotated[str, Form(max_length=20_000)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    mode: Annotated[str, Form(max_length=16)] = "dynamic",
    version: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Save the edited rule and description over the version the form was loaded with (the
    core refuses the save when someone changed the segment since)."""
    caller = session.caller
    if not rule.strip():
        raise InputError("the rule is empty: write a condition", where="rule")
    if not version:
        raise InputError("the form came without the segment's version; reload it", where="rule")
    await analysis(
        request,
        "saving the segment",
        lambda ws: ws.audiences.segments.create(
            name,
            rule,
            mode=mode,
            description=description,
            expected_version=version,
            caller=caller,
        ),
    )
    return Response(status_code=200, headers={"HX-Redirect": _href(name) + "?saved=1"})


@router.get("/segments/{name}/overlap")
async def overlap(
    request: Request,
    session: SignedIn,
    name: str,
    other: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    caller = session.caller
    if not other:
        raise InputError("choose a segment to compare with", where="other")
    numbers = await quick(
        request, lambda ws: ws.audiences.segments.overlap(name, other, caller=caller)
    )
    parts = (numbers.get("a_only"), numbers.get("intersection"), numbers.get("b_only"))
    chart = None
    if all(isinstance(p, int) for p in parts):
        a_only, both, b_only = (int(p or 0) for p in parts)
        chart = overlap_chart(name, other, a_only, both, b_only)
    return render(request, "segments/_overlap.html", {"overlap": numbers, "chart": chart})


def _columns(values: list[str]) -> list[str] | None:
    return [c.strip() for c in values if c.strip()] or None


@router.post("/segments/{name}/sample")
async def sample(
    request: Request,
    session: Changing,
    name: str,
    columns: Annotated[list[str] | None, Form(max_length=128)] = None,
    unmask: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """A random sample of the members (user-level data: refused below ``users:read``;
    personal data masked below ``pii:unmasked``; audited by the core)."""
    caller = session.caller
    wanted = _columns(columns or [])
    seed = secrets.randbelow(2**31)
    table = await analysis(
        request,
        "sampling the members",
        lambda ws: ws.audiences.sample(
            name, SAMPLE, seed=seed, columns=wanted, unmask=unmask, caller=caller
        ),
    )
    context = {"names": table.column_names, "rows": table.to_pylist()}
    return render(request, "segments/_members.html", context)


@router.post("/segments/{name}/export")
async def export(
    request: Request,
    session: Changing,
    name: str,
    format: Annotated[str, Form(max_length=16)] = "csv",
    columns: Annotated[list[str] | None, Form(max_length=128)] = None,
    unmask: Annotated[bool, Form()] = False,
) -> FileResponse:
    """The members with the chosen tag columns as a CSV or Parquet download, written by the
    core's export (refused below ``users:read``, personal data masked unless a role that may
    see it asks for it unmasked, audited) to a temporary file and streamed from it."""
    caller = session.caller
    if format not in FORMATS:
        raise InputError("the format is csv or parquet", where="format")
    wanted = _columns(columns or [])
    folder = tempfile.mkdtemp(prefix="portrait-export-")
    path = Path(folder) / f"members.{format}"  # the name is the user's: not in a path
    try:
        await analysis(
            request,
            "the export",
            lambda ws: ws.audiences.export(name, path, wanted, unmask=unmask, caller=caller),
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        filename=f"{name}.{format}",
        media_type=FORMATS[format],
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.post("/segments/{name}/delete")
async def delete(request: Request, session: Changing, name: str) -> Response:
    """Delete the segment (the core refuses while others refer to it); then the list."""
    caller = session.caller

    def work(ws: Workspace) -> str:
        ws.audiences.segments.delete(name, caller=caller)
        return name  # not None: quick() takes None for "not run yet" and would run it again

    await quick(request, work)
    return Response(status_code=200, headers={"HX-Redirect": "/segments"})
