"""The HTTP API (FastAPI): ``portrait serve``, or ``create_app(workspace)`` for an ASGI server."""

from portrait.api.app import create_app

__all__ = ["create_app"]
