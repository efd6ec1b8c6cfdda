"""Administration (admins): console user accounts (create, disable and enable, role, password
reset), API keys (create, with the secret shown once; revoke) and the audit log by actor,
action and time range. The core checks every call (``keys:manage``, ``audit:read``) and
audits every change; these handlers only read forms and show answers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portrait.errors import InputError, PortraitError
from portrait.model.access import ROLES, Caller
from portrait.web.deps import analysis, quick
from portrait.web.i18n import translator
from portrait.web.render import is_fragment, language, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()
SLOT = re.compile(r"[a-z][a-z0-9-]{0,40}")
AUDIT_LIMIT = 200
# where the core says a problem is → the form field it shows next to
FIELDS = {
    "--role": "role",
    "role": "role",
    "name": "name",
    "password": "password",
    "password2": "password2",
    "expires_days": "expires_days",
    "--expires-days": "expires_days",
    "limit": "limit",
    "since": "since",
    "until": "until",
}


def _next_to_field(request: Request, error: PortraitError, slot: str, fields: set[str]) -> Response:
    """The problem of an htmx request, swapped in next to the field it is about (else next to
    the form): ``#<slot>-<field>-problem`` or ``#<slot>-problem``."""
    if not is_fragment(request) or not SLOT.fullmatch(slot):
        raise error
    field = FIELDS.get(str(getattr(error, "where", "") or ""), "")
    if field not in fields and "--expires-days" in error.message:
        field = "expires_days"
    target = f"#{slot}-{field}-problem" if field in fields else f"#{slot}-problem"
    return render(
        request,
        "_problem.html",
        {"problem": error},
        status=error.http_status,
        headers={"HX-Retarget": target, "HX-Reswap": "innerHTML"},
    )


def _t(request: Request) -> Callable[..., str]:
    return translator(language(request))


def _both_passwords(password: str, again: str) -> None:
    if password != again:
        raise InputError("the two passwords differ", where="password2", hint="type it again")


# -- console users ------------------------------------------------------------------------
def _accounts(caller: Caller) -> Any:
    def work(ws: Workspace) -> list[dict[str, Any]]:
        return ws.accounts.all(caller=caller)

    return work


async def _users_section(
    request: Request, caller: Caller, notice: str = "", page: bool = False
) -> HTMLResponse:
    accounts = await quick(request, _accounts(caller))
    context = {"accounts": accounts, "roles": ROLES, "notice": notice}
    return render(request, "admin/users.html" if page else "admin/_users.html", context)


@router.get("/admin")
async def users_page(request: Request, session: SignedIn) -> HTMLResponse:
    return await _users_section(request, session.caller, page=True)


async def _changed(request: Request, caller: Caller, notice: str) -> Response:
    if not is_fragment(request):
        return RedirectResponse("/admin", status_code=303)
    return await _users_section(request, caller, notice)


@router.post("/admin/users")
async def create_user(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=256)] = "",
    role: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    password2: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    caller = session.caller
    name = name.strip()
    try:
        _both_passwords(password, password2)
        # argon2 takes tens of milliseconds by design: a worker thread
        await analysis(
            request,
            "creating the user",
            lambda ws: ws.accounts.create(name, role, password, caller=caller),
        )
    except InputError as error:
        return _next_to_field(request, error, "new-user", {"name", "role", "password", "password2"})
    _ = _t(request)
    return await _changed(request, caller, _("User {name} created", name=name))


@router.post("/admin/users/state")
async def set_state(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=256)],
    active: Annotated[bool, Form()],
    slot: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    caller = session.caller

    def work(ws: Workspace) -> Any:
        if active:
            return ws.accounts.enable(name, caller=caller)
        return ws.accounts.disable(name, caller=caller)

    try:
        await quick(request, work)
    except InputError as error:
        return _next_to_field(request, error, slot, set())
    _ = _t(request)
    notice = _("User {name} enabled", name=name) if active else _("User {name} disabled", name=name)
    return await _changed(request, caller, notice)


@router.post("/admin/users/role")
async def set_role(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=256)],
    role: Annotated[str, Form(max_length=64)] = "",
    slot: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    caller = session.caller
    try:
        await quick(request, lambda ws: ws.accounts.set_role(name, role, caller=caller))
    except InputError as error:
        return _next_to_field(request, error, slot, set())
    _ = _t(request)
    notice = _("User {name} now has role {role}", name=name, role=_(role))
    return await _changed(request, caller, notice)


@router.post("/admin/users/password")
async def reset_password(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=256)],
    password: Annotated[str, Form(max_length=4096)] = "",
    password2: Annotated[str, Form(max_length=4096)] = "",
    slot: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    caller = session.caller
    try:
        _both_passwords(password, password2)
        await analysis(
            request,
            "resetting the password",
            lambda ws: ws.accounts.reset_password(name, password, caller=caller),
        )
    except InputError as error:
        return _next_to_field(request, error, slot, set())
    _ = _t(request)
    return await _changed(request, caller, _("Password of {name} reset", name=name))


# -- API keys -----------------------------------------------------------------------------
def _keys(caller: Caller) -> Any:
    def work(ws: Workspace) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC)
        return [
            k.to_dict() | {"active": k.active(now)} for k in ws.access.managed_keys(caller).all()
        ]

    return work


async def _keys_section(
    request: Request,
    caller: Caller,
    *,
    created: dict[str, Any] | None = None,
    notice: str = "",
    page: bool = False,
) -> HTMLResponse:
    keys = await quick(request, _keys(caller))
    context = {"keys": keys, "roles": ROLES, "created": created, "notice": notice}
    return render(request, "admin/keys.html" if page else "admin/_keys.html", context)


@router.get("/admin/keys")
async def keys_page(request: Request, session: SignedIn) -> HTMLResponse:
    return await _keys_section(request, session.caller, page=True)


def _days(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 36_500:
        raise InputError(
            f"'{text[:20]}' is not a number of days",
            where="expires_days",
            hint="a whole number from 1 to 36,500, or empty for a key that does not expire",
        )
    return int(text)


@router.post("/admin/keys")
async def create_key(
    request: Request,
    session: Changing,
    role: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=128)] = "",
    expires_days: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    caller = session.caller
    try:
        days = _days(expires_days)
        info, secret = await quick(
            request,
            lambda ws: ws.access.create_key(
                role, name=name.strip(), expires_days=days, caller=caller
            ),
        )
    except InputError as error:
        return _next_to_field(request, error, "new-key", {"role", "name", "expires_days"})
    created = info.to_dict() | {"secret": secret}
    return await _keys_section(request, caller, created=created, page=not is_fragment(request))


@router.post("/admin/keys/revoke")
async def revoke_key(
    request: Request,
    session: Changing,
    key_id: Annotated[str, Form(max_length=64)],
    slot: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    caller = session.caller
    try:
        await quick(request, lambda ws: ws.access.revoke_key(key_id, caller=caller))
    except InputError as error:
        return _next_to_field(request, error, slot, set())
    if not is_fragment(request):
        return RedirectResponse("/admin/keys", status_code=303)
    _ = _t(request)
    return await _keys_section(request, caller, notice=_("Key {id} revoked", id=key_id))


# -- the audit log ------------------------------------------------------------------------
def _moment(text: str, where: str, *, end: bool = False) -> dt.datetime | None:
    """A ``datetime-local`` field's value as a UTC time; a 'to' given to the minute takes in
    that whole minute."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"'{text[:40]}' is not a date and time", where=where, hint="like 2026-10-01T08:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if end and len(text) <= len("2026-10-01T08:30"):
        moment += dt.timedelta(minutes=1) if "T" in text else dt.timedelta(days=1)
    return moment


def _audit(
    caller: Caller, actor: str, action: str, since: dt.datetime | None, until: dt.datetime | None
) -> Any:
    def work(ws: Workspace) -> dict[str, Any]:
        entries = ws.access.audit_entries(
            AUDIT_LIMIT, actor or None, caller, action=action or None, since=since, until=until
        )
        actions = ws.access.audit_actions(caller=caller)
        actors = [f"user:{a['name']}" for a in ws.accounts.all(caller=caller)]
        return {"entries": entries, "actions": actions, "actors": actors}

    return work


@router.get("/admin/audit")
async def audit_page(request: Request, session: SignedIn) -> HTMLResponse:
    found = await quick(request, _audit(session.caller, "", "", None, None))
    filters = {"actor": "", "action": "", "since": "", "until": ""}
    return render(request, "admin/audit.html", found | {"filters": filters, "limit": AUDIT_LIMIT})


@router.post("/admin/audit")
async def audit_filtered(
    request: Request,
    session: Changing,
    actor: Annotated[str, Form(max_length=128)] = "",
    action: Annotated[str, Form(max_length=64)] = "",
    since: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    caller = session.caller
    try:
        start, end = _moment(since, "since"), _moment(until, "until", end=True)
        found = await quick(request, _audit(caller, actor.strip(), action, start, end))
    except InputError as error:
        return _next_to_field(request, error, "audit", {"since", "until", "limit"})
    filters = {"actor": actor.strip(), "action": action, "since": since, "until": until}
    template = "admin/_audit_results.html" if is_fragment(request) else "admin/audit.html"
    return render(request, template, found | {"filters": filters, "limit": AUDIT_LIMIT})
