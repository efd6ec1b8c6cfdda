"""What ``portrait serve`` runs: the HTTP API (:mod:`portrait.api`) and the web console
(:mod:`portrait.web`) in one app, over one workspace and one core."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from portrait.api.app import create_app as create_api
from portrait.web import mount


def create_app(workspace: Path | None = None, *, fast_path: bool = True) -> FastAPI:
    """The API at ``/v1`` and the console at ``/`` for the workspace at ``workspace``."""
    app = create_api(workspace, fast_path=fast_path)
    mount(app)
    return app
