"""Security headers on every console response: a Content-Security-Policy that allows no
inline script and no eval (charts use Vega's CSP-safe expression interpreter), no framing,
no referrer, no sniffing; HTML is never cached (it shows personal data to some roles)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Vega sets style attributes on its SVG
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
CACHED = b"public, max-age=86400"
# FastAPI's interactive API docs load their scripts inline: they keep their own headers
OPEN = ("/docs", "/redoc")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` (and no-store on HTML) to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPEN):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in HEADERS if h[0] not in names)
                content_type = dict(headers).get(b"content-type", b"")
                if b"cache-control" not in names:
                    if content_type.startswith(b"text/html"):
                        headers.append((b"cache-control", b"no-store"))
                    elif scope["path"].startswith("/static/"):
                        # pinned files, asked for with the release in the URL (?v=)
                        headers.append((b"cache-control", CACHED))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
