"""The personalisation interface's fast path.

``GET /v1/users/{user_id}/segments`` is what other systems call on every page view, thousands
of times a second. Its own work (find the user, test 50 segments, note the read for the audit
log) takes tens of microseconds; FastAPI's per-request machinery around it (routing,
dependency solving, response validation and serialisation) takes about 100 µs more. This
middleware answers such a request itself, with the same functions the documented route uses
(the caller's key and role, the workspace call, the error body), and hands every other
request, and this one whenever it declines (the workspace busy or still warming up), to the
app: the answers are the same either way (tested), only faster here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from portrait.errors import PortraitError

# (request headers, the path parameter) → the JSON answer, or None to decline
Answer = Callable[[Headers, str], Any]


class FastGet:
    """ASGI middleware: ``GET`` on ``template`` (one ``{parameter}`` segment, e.g.
    ``/v1/users/{user_id}/segments``) answered by ``answer``; a :class:`PortraitError` it
    raises is rendered by ``error``. The request's ``route`` is the app's route for the
    template, so metrics and access logs name it as usual."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        template: str,
        answer: Answer,
        error: Callable[[PortraitError], Response],
    ):
        self.app = app
        self.template = template
        self.prefix, rest = template.split("{", 1)
        self.suffix = rest.split("}", 1)[1]
        self.answer = answer
        self.error = error
        self._route: Any = None

    def _parameter(self, scope: Scope) -> str | None:
        """The path parameter, when the request is a GET of the template (as the router
        would match it: a non-empty segment without ``/``, the path as decoded)."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        prefix, suffix = self.prefix, self.suffix
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return None
        value = path[len(prefix) : len(path) - len(suffix)]
        return value if value and "/" not in value else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        value = self._parameter(scope)
        if value is None:
            await self.app(scope, receive, send)
            return
        response: Response
        try:
            body = self.answer(Headers(scope=scope), value)
        except PortraitError as exc:
            response = self.error(exc)
        else:
            if body is None:  # declined: the app's route answers
                await self.app(scope, receive, send)
                return
            response = JSONResponse(body)
        scope["route"] = self._route or self._find_route(scope)
        await response(scope, receive, send)

    def _find_route(self, scope: Scope) -> Any:
        for route in scope["app"].router.routes:
            if getattr(route, "path", None) == self.template:
                self._route = route
                return route
        raise LookupError(f"no route {self.template}")  # a programming error: found at once
