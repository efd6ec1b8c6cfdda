"""One user's 360 view (个人画像): tag values by category with their titles (personal data
masked unless the role may see it), the segments the user is in, campaign history, orders and
latest events. The user id is posted, never put in a URL (ids may identify people); the core
checks ``users:read`` and audits every lookup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from portrait.errors import InputError, NotFoundError
from portrait.model.access import Caller
from portrait.web.deps import analysis, quick
from portrait.web.render import is_fragment, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()
EVENTS = 20
PROBLEM_TARGET = "#user-id-problem"


def _may_read(caller: Caller) -> Any:
    def work(ws: Workspace) -> None:
        ws.access.require(caller, "users:read", "a user's profile")

    return work


def _lookup(caller: Caller, user_id: str) -> Any:
    def work(ws: Workspace) -> dict[str, Any]:
        view = ws.users.user(user_id, events=EVENTS, unmask=caller.sees_pii, caller=caller)
        return view | {"pii": sorted(ws.catalog.pii_tags())}

    return work


@router.get("/users")
async def find_page(request: Request, session: SignedIn) -> HTMLResponse:
    await quick(request, _may_read(session.caller))
    return render(request, "users/page.html", {"user_id": "", "view": None, "problem": None})


@router.post("/users")
async def user_view(
    request: Request,
    session: Changing,
    user_id: Annotated[str, Form(max_length=256)] = "",
) -> HTMLResponse:
    caller = session.caller
    await quick(request, _may_read(caller))  # a viewer is refused before any id is looked at
    wanted = user_id.strip()
    problem: InputError | None = None
    view = None
    if not wanted:
        problem = InputError("enter a user id", where="user_id")
    else:
        try:
            view = await analysis(request, "the user profile", _lookup(caller, wanted))
        except NotFoundError as error:
            problem = error
    if is_fragment(request):
        if problem is not None:
            return render(
                request,
                "users/_problem.html",
                {"problem": problem},
                status=problem.http_status,
                headers={"HX-Retarget": PROBLEM_TARGET, "HX-Reswap": "innerHTML"},
            )
        return render(request, "users/_view.html", {"view": view})
    status = problem.http_status if problem is not None else 200
    context = {"user_id": wanted, "view": view, "problem": problem}
    return render(request, "users/page.html", context, status=status)
