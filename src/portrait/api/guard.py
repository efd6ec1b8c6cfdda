"""What a request must pass before its body is read: a key (for ``/v1`` routes) and a size.

A body is read only after the caller's key has been verified, and never past ``max_body``
bytes *received*, whatever the headers say: a chunked request carries no Content-Length, so
the size is counted as the bytes arrive and the request is refused with 413 at the first
byte over the limit (the rest is never read). The body read is then handed to the app.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portrait.errors import PortraitError

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyGuard:
    """Pure ASGI middleware: authenticate ``/v1`` requests that carry a body before reading
    it, and read at most ``max_body`` bytes of any body."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        authenticate: Callable[[Headers], object],
        error: Callable[[PortraitError], JSONResponse],
    ):
        self.app = app
        self.max_body = max_body
        self.authenticate = authenticate
        self.error = error

    def _too_large(self) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "code": "too_large",
                    "message": f"the request body is over {self.max_body // 2**20} MiB",
                    "where": None,
                    "hint": "split the upload",
                }
            },
            status_code=413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await self._too_large()(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith("/v1/"):
            try:
                self.authenticate(headers)  # raises for a missing, unknown or revoked key
            except PortraitError as exc:
                await self.error(exc)(scope, receive, send)
                return
        chunks: list[Message] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                chunks.append(message)
                break
            received += len(message.get("body", b""))
            if received > self.max_body:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(message)
            if not message.get("more_body", False):
                break
        replay = iter(chunks)

        async def receive_read() -> Message:
            message = next(replay, None)
            return message if message is not None else await receive()

        await self.app(scope, receive_read, send)
