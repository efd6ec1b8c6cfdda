"""One user's 360 view and the personalisation interfaces (the hot path: matched first,
answered on the event loop when the workspace is warm and free)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portrait.api.deps import CoreDep, UsersKey
from portrait.api.schemas import MembershipRequest
from portrait.model.access import KeyInfo
from portrait.workspace import Workspace

router = APIRouter(tags=["users"])

HOT = frozenset({"/v1/users/{user_id}/segments", "/v1/membership"})
"""The routes that take most of the traffic: matched first."""


def segments_answer(w: Workspace, key: KeyInfo, user_id: str) -> dict[str, Any]:
    """The personalisation answer: the saved segments ``user_id`` is in (read audited); the
    route's and the fast path's (:mod:`portrait.api.fastpath`)."""
    return {"user_id": user_id, "segments": w.users.segments_of(user_id, key.caller)}


@router.get("/v1/users/{user_id}")
def user(user_id: str, key: UsersKey, core: CoreDep, unmask: bool = False) -> dict[str, Any]:
    return core.analysis(
        "the user profile", lambda w: w.users.user(user_id, unmask=unmask, caller=key.caller)
    )


@router.get("/v1/users/{user_id}/segments")
async def user_segments(user_id: str, key: UsersKey, core: CoreDep) -> dict[str, Any]:
    return await core.quick(lambda w: segments_answer(w, key, user_id))


@router.post("/v1/membership")
async def membership(body: MembershipRequest, key: UsersKey, core: CoreDep) -> dict[str, Any]:
    result = await core.quick(
        lambda w: w.users.membership(body.user_ids, body.segments, key.caller)
    )
    return {"membership": result}
