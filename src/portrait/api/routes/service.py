"""Liveness and readiness, for load balancers and orchestrators (no key needed)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from portrait.errors import PortraitError

router = APIRouter(tags=["service"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready once the worker has warmed its caches; names the live profile version."""
    if not request.app.state.warmed.is_set():
        return JSONResponse({"status": "warming up"}, status_code=503)
    try:
        version = request.app.state.workspace.built.version  # the pointer, without the lock
    except PortraitError as exc:
        return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready", "profile_version": version, "worker": os.getpid()})
