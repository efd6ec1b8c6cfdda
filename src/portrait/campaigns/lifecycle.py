"""The campaign lifecycle: which state may follow which, and the moves that keep the change log.

A campaign is created as a ``draft``. Launching it starts a run (``running``), or marks it
``scheduled`` when its time has not come (a schedule ``at`` a later time, or a recurring
campaign between runs). A finished run leaves it ``completed``, ``failed`` (every message
failed) or, when it recurs, ``scheduled`` again; a failed campaign may be launched again.
``cancel`` stops a campaign that has not finished. :data:`TRANSITIONS` is the whole table:
every move that is not in it is refused with :class:`CampaignStateError`, and every move that
is in it is written to the change log with who made it and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType

from portrait.errors import CampaignStateError
from portrait.model.campaigns import CampaignState
from portrait.store.campaigns import CampaignRepository

DRAFT = CampaignState.DRAFT
SCHEDULED = CampaignState.SCHEDULED
RUNNING = CampaignState.RUNNING
COMPLETED = CampaignState.COMPLETED
CANCELLED = CampaignState.CANCELLED
FAILED = CampaignState.FAILED

#: state → the states it may move to (a state missing on the right is final)
TRANSITIONS: Mapping[CampaignState, frozenset[CampaignState]] = MappingProxyType(
    {
        DRAFT: frozenset({SCHEDULED, RUNNING, CANCELLED}),
        SCHEDULED: frozenset({RUNNING, CANCELLED}),
        RUNNING: frozenset({COMPLETED, FAILED, SCHEDULED, CANCELLED}),
        FAILED: frozenset({SCHEDULED, RUNNING}),  # launched again: a new run
        COMPLETED: frozenset(),
        CANCELLED: frozenset(),
    }
)


def allowed(before: CampaignState | str, after: CampaignState | str) -> bool:
    """Whether the table lets a campaign move from ``before`` to ``after``."""
    return CampaignState(after) in TRANSITIONS[CampaignState(before)]


def check(name: str, before: CampaignState | str, after: CampaignState | str) -> None:
    """Refuse a move that is not in :data:`TRANSITIONS`."""
    if allowed(before, after):
        return
    possible = sorted(TRANSITIONS[CampaignState(before)])
    raise CampaignStateError(
        f"campaign '{name}' cannot go from {before} to {after}",
        hint=(f"from {before} it may go to " + ", ".join(possible))
        if possible
        else f"{before} is final",
    )


def launchable(state: CampaignState | str) -> bool:
    """Whether a launch may go on: it resumes a running campaign or starts (or schedules)
    a run, which the table must allow."""
    state = CampaignState(state)
    return state == RUNNING or RUNNING in TRANSITIONS[state]


def cancellable(state: CampaignState | str) -> bool:
    return CANCELLED in TRANSITIONS[CampaignState(state)]


def after_run(*, sent: int, failed: int, recurring: bool) -> CampaignState:
    """The state a campaign takes when a run ends with ``sent`` and ``failed`` messages."""
    if sent == 0 and failed > 0:
        return FAILED  # every message failed (refused, unrenderable)
    return SCHEDULED if recurring else COMPLETED


class Lifecycle:
    """Moves campaigns between states, writing the change log with who (``actor``) and when
    (``clock``)."""

    def __init__(self, clock: Callable[[], dt.datetime], actor: str) -> None:
        self.clock = clock
        self.actor = actor

    def record(
        self,
        repo: CampaignRepository,
        name: str,
        action: str,
        before: CampaignState | None,
        after: CampaignState | None,
        detail: str = "",
    ) -> None:
        """An entry of the change log (``repo``: the caller's transaction)."""
        repo.log_event(
            name,
            at=self.clock(),
            actor=self.actor,
            action=action,
            before=before,
            after=after,
            detail=detail,
        )

    def move(
        self,
        repo: CampaignRepository,
        name: str,
        before: CampaignState | str,
        after: CampaignState,
        action: str,
        detail: str = "",
    ) -> None:
        """Move the campaign from ``before`` to ``after`` and log it, in ``repo``'s
        transaction. Refused with :class:`CampaignStateError` when the table does not allow
        it, or when the campaign is no longer in ``before`` (another process moved it)."""
        before = CampaignState(before)
        check(name, before, after)
        if not repo.set_state(name, before, after, self.clock()):
            found = repo.campaign(name)
            now = found.state if found else "gone"
            raise CampaignStateError(
                f"campaign '{name}' is {now} now, not {before}: it cannot go to {after}",
                hint=f"another process changed it meanwhile; see 'portrait campaign show {name}'",
            )
        self.record(repo, name, action, before, after, detail)
