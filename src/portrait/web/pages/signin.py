"""Signing in and out, and the language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from portrait.errors import InputError, PortraitError
from portrait.web.deps import core
from portrait.web.i18n import COOKIE as LANG_COOKIE
from portrait.web.i18n import LANGUAGES
from portrait.web.render import render
from portrait.web.session import COOKIE, Changing

router = APIRouter()
LOGIN_COOKIE = "portrait_login"  # double-submit token of the sign-in form (login CSRF)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no host, no '//' trick): else the home page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _form(
    request: Request,
    problem: PortraitError | None = None,
    status: int = 200,
    next_path: str | None = None,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "login_token": token,
            "next": _safe_next(next_path or request.query_params.get("next")),
            "problem": problem,
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _form(request)


@router.post("/login")
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    login_token: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_token.encode()):
        problem = InputError("the sign-in form expired", hint="sign in again")
        return _form(request, problem, status=400, next_path=next_path)
    accounts = core(request).workspace.accounts
    try:
        # argon2 takes tens of milliseconds by design: off the event loop
        token, _session = await run_in_threadpool(accounts.sign_in, name.strip(), password)
    except PortraitError as error:
        response = _form(request, error, status=error.http_status, next_path=next_path)
        if "retry_after" in error.extra:
            response.headers["Retry-After"] = str(error.extra["retry_after"])
        return response
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, session: Changing) -> Response:
    core(request).workspace.accounts.sign_out(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str) -> Response:
    response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", max_age=365 * 86400, path="/")
    return response
