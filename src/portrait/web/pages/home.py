"""The start page: the workspace at a glance (users, as-of date, tags, segments) and the way
into each part of the console."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from portrait.web.deps import quick
from portrait.web.render import render
from portrait.web.session import SignedIn
from portrait.workspace import Workspace

router = APIRouter()


@router.get("/")
async def home(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller

    def overview(ws: Workspace) -> dict[str, Any]:
        return {
            "status": ws.data.status(),
            "segments": len(ws.audiences.segments.all(caller=caller))
            if caller.can("segments:read")
            else None,
        }

    return render(request, "home.html", await quick(request, overview))
