"""Who is signed in, and the checks every console request passes: a live session (else the
sign-in page), and on every state-changing request the session's CSRF token, sent by htmx as
the ``X-CSRF-Token`` header or by a plain form as its ``csrf`` field."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from portrait.model.access import Session

COOKIE = "portrait_session"


class SignInNeeded(Exception):
    """No live session: pages go to the sign-in page, fragments tell htmx to go there."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def next_path(request: Request) -> str:
    """Where to come back to after signing in: the path only (queries may hold input)."""
    return quote(request.url.path, safe="/")


async def signed_in(request: Request) -> Session:
    """The request's live session (dependency of every console route but the sign-in)."""
    request.state.console = True
    token = request.cookies.get(COOKIE, "")
    accounts = request.app.state.workspace.accounts
    session: Session | None = accounts.session(token) if token else None
    if session is None:
        raise SignInNeeded(next_path(request))
    request.state.session = session
    return session


async def changing(request: Request) -> Session:
    """:func:`signed_in`, for a request that changes something: its CSRF token must match."""
    session = await signed_in(request)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # starlette keeps it: handlers read the same form
        field = form.get("csrf")
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRefused()
    return session


SignedIn = Annotated[Session, Depends(signed_in)]
Changing = Annotated[Session, Depends(changing)]
