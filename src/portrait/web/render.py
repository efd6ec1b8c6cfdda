"""Rendering: the Jinja2 environment of the console's templates, and what every template
gets (the translator, the signed-in session, its CSRF token, the permission check, the URL of
a static file, and whether the request wants a fragment)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from portrait import __version__
from portrait.model.access import Session, allows
from portrait.web.i18n import COOKIE, LANGUAGES, choose, translator


def _number(value: object) -> str:
    """Counts with thousands separators; None (suppressed below disclosure control) as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e15 else f"{value:.3g}"
    return str(value)


def _percent(value: object, digits: int = 1) -> str:
    if value is None or not isinstance(value, int | float):
        return "—"
    return f"{value * 100:.{digits}f}%"


def _fixed(value: object, digits: int = 3) -> str:
    """A measure with ``digits`` decimals (mutual information, lift); None or NaN as a dash."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return "—" if value != value else f"{value:.{digits}f}"


def _general(value: object, digits: int = 2) -> str:
    """A p-value and the like in ``digits`` significant digits; None or NaN as a dash."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return "—" if value != value else f"{value:.{digits}g}"


def _spec(spec: dict[str, Any] | None) -> Markup:
    """A chart spec as an attribute value (escaped JSON; rendered by console.js)."""
    return Markup.escape(json.dumps(spec, ensure_ascii=False, default=str))


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("portrait.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = _number
    env.filters["percent"] = _percent
    env.filters["spec"] = _spec
    env.filters["fixed"] = _fixed
    env.filters["general"] = _general
    return env


def language(request: Request) -> str:
    return choose(request.cookies.get(COOKIE), request.headers.get("accept-language"))


def is_fragment(request: Request) -> bool:
    """Whether htmx asked (for a part of a page; not a history restore, which needs it all)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: Session | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered for ``request`` (its session: the one the route checked)."""
    lang = language(request)
    session = session or getattr(request.state, "session", None)
    role = session.caller.role if session else None

    def can(permission: str) -> bool:
        return role is not None and allows(role, permission)

    values = {
        "_": translator(lang),
        "lang": lang,
        "languages": LANGUAGES,
        "session": session,
        "csrf": session.csrf if session else "",
        "can": can,
        "path": request.url.path,
        "fragment": is_fragment(request),
        "version": __version__,
        **(context or {}),
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers=headers)


def problem_in(request: Request, problem: Any, slot: str) -> HTMLResponse:
    """An htmx request's problem (a :class:`portrait.errors.PortraitError`), swapped into the
    slot ``#problem-<slot>`` next to the field or row it concerns (HX-Retarget)."""
    return render(
        request,
        "_problem.html",
        {"problem": problem},
        status=problem.http_status,
        headers={"HX-Retarget": f"#problem-{slot}", "HX-Reswap": "innerHTML"},
    )
