"""The campaign lifecycle (portrait/campaigns/lifecycle.py): every move in the transition
table is allowed and logged, every other one is refused and changes nothing; the rules
derived from the table (launch, cancel, the state after a run)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from portrait.campaigns import lifecycle
from portrait.campaigns.lifecycle import TRANSITIONS, Lifecycle
from portrait.errors import CampaignStateError, InputError
from portrait.model.campaigns import CAMPAIGN_STATES, CampaignState
from portrait.store.campaigns import CampaignRepository
from portrait.store.metadata import MetadataStore, open_database

T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
S = CampaignState
PAIRS = list(itertools.product(CampaignState, repeat=2))
LEGAL = [(a, b) for a, b in PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in PAIRS if b not in TRANSITIONS[a]]


def ids(pair: tuple[CampaignState, CampaignState]) -> str:
    return f"{pair[0]}->{pair[1]}"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[CampaignRepository]:
    engine = open_database(f"sqlite:///{tmp_path / 'metadata.db'}", tmp_path)
    yield CampaignRepository(MetadataStore(engine))
    engine.dispose()


def test_the_table_is_the_documented_lifecycle() -> None:
    """docs/campaigns.md#lifecycle in table form: a change here is a change of behaviour."""
    assert set(TRANSITIONS) == set(CampaignState)
    assert tuple(CampaignState) == tuple(map(S, CAMPAIGN_STATES))
    assert set(LEGAL) == {
        (S.DRAFT, S.SCHEDULED),  # launched before its time
        (S.DRAFT, S.RUNNING),
        (S.DRAFT, S.CANCELLED),
        (S.SCHEDULED, S.RUNNING),
        (S.SCHEDULED, S.CANCELLED),
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.FAILED),  # every message failed
        (S.RUNNING, S.SCHEDULED),  # a recurring campaign between runs
        (S.RUNNING, S.CANCELLED),
        (S.FAILED, S.SCHEDULED),
        (S.FAILED, S.RUNNING),  # launched again
    }
    assert not TRANSITIONS[S.COMPLETED] and not TRANSITIONS[S.CANCELLED]  # final
    assert not any(a == b for a, b in LEGAL)  # staying put is no move


@pytest.mark.parametrize("pair", LEGAL, ids=ids)
def test_a_move_in_the_table_is_made_and_logged(
    pair: tuple[CampaignState, CampaignState], repo: CampaignRepository
) -> None:
    before, after = pair
    assert lifecycle.allowed(before, after) and lifecycle.allowed(str(before), str(after))
    lifecycle.check("c", before, after)
    repo.insert_campaign("c", "{}", before, T0)
    moved_at = T0 + dt.timedelta(hours=1)
    with repo.transaction() as tx:
        Lifecycle(lambda: moved_at, "alice").move(tx, "c", before, after, "act", "why")
    found = repo.campaign("c")
    assert found is not None and found.state == after and found.updated_at == moved_at
    [entry] = repo.events("c")
    assert (entry.from_state, entry.to_state, entry.action, entry.detail) == (
        before,
        after,
        "act",
        "why",
    )
    assert (entry.actor, entry.at) == ("alice", moved_at)


@pytest.mark.parametrize("pair", ILLEGAL, ids=ids)
def test_a_move_not_in_the_table_is_refused_and_changes_nothing(
    pair: tuple[CampaignState, CampaignState], repo: CampaignRepository
) -> None:
    before, after = pair
    assert not lifecycle.allowed(before, after)
    with pytest.raises(CampaignStateError) as refused:
        lifecycle.check("c", before, after)
    assert str(refused.value).startswith(f"campaign 'c' cannot go from {before} to {after}")
    repo.insert_campaign("c", "{}", before, T0)
    with pytest.raises(CampaignStateError), repo.transaction() as tx:
        Lifecycle(lambda: T0, "alice").move(tx, "c", before, after, "act")
    found = repo.campaign("c")
    assert found is not None and found.state == before and found.updated_at == T0
    assert repo.events("c") == []


def test_the_refusal_says_where_the_campaign_may_go() -> None:
    with pytest.raises(CampaignStateError) as refused:
        lifecycle.check("autumn", S.SCHEDULED, S.COMPLETED)
    assert refused.value.hint == "from scheduled it may go to cancelled, running"
    with pytest.raises(CampaignStateError) as final:
        lifecycle.check("autumn", S.COMPLETED, S.RUNNING)
    assert final.value.hint == "completed is final"
    error = final.value
    assert isinstance(error, InputError)  # exit code 2 on the CLI, like other refusals
    assert (error.code, error.exit_code, error.http_status) == ("campaign_state", 2, 409)


def test_a_move_from_a_state_another_process_left_is_refused(repo: CampaignRepository) -> None:
    """The check is against the stored state at the moment of the move: a launch that read
    ``draft`` cannot start a run after a cancel made it ``cancelled``."""
    repo.insert_campaign("c", "{}", S.DRAFT, T0)
    states = Lifecycle(lambda: T0, "bob")
    with repo.transaction() as tx:
        states.move(tx, "c", S.DRAFT, S.CANCELLED, "cancel")

    def launch_from_a_stale_read() -> None:
        with repo.transaction() as tx:
            tx.log_event("c", at=T0, actor="x", action="launch-started", before=None, after=None)
            states.move(tx, "c", S.DRAFT, S.RUNNING, "launch")

    with pytest.raises(CampaignStateError, match="is cancelled now, not draft"):
        launch_from_a_stale_read()
    found = repo.campaign("c")
    assert found is not None and found.state == "cancelled"
    assert [e.action for e in repo.events("c")] == ["cancel"]  # the failed move left nothing


def test_record_logs_without_moving(repo: CampaignRepository) -> None:
    Lifecycle(lambda: T0, "carol").record(repo, "c", "create", None, S.DRAFT, "from a file")
    [entry] = repo.events("c")
    assert (entry.action, entry.from_state, entry.to_state, entry.actor, entry.detail) == (
        "create",
        None,
        "draft",
        "carol",
        "from a file",
    )


@pytest.mark.parametrize("state", list(CampaignState), ids=str)
def test_launch_and_cancel_follow_the_table(state: CampaignState) -> None:
    # a launch resumes a running campaign, or starts or schedules a run
    assert lifecycle.launchable(state) == (state not in (S.COMPLETED, S.CANCELLED))
    assert lifecycle.cancellable(state) == (state in (S.DRAFT, S.SCHEDULED, S.RUNNING))
    if lifecycle.launchable(state) and state != S.RUNNING:
        assert lifecycle.allowed(state, S.RUNNING)
    if lifecycle.cancellable(state):
        assert lifecycle.allowed(state, S.CANCELLED)


@pytest.mark.parametrize(
    ("sent", "failed", "recurring", "state"),
    [
        (10, 0, False, S.COMPLETED),
        (10, 3, False, S.COMPLETED),  # some failed: still completed
        (0, 3, False, S.FAILED),  # every message failed
        (0, 3, True, S.FAILED),  # even when it recurs
        (10, 0, True, S.SCHEDULED),  # recurring: back to scheduled
        (0, 0, False, S.COMPLETED),  # nothing to send (all suppressed or control)
    ],
)
def test_the_state_after_a_run(sent: int, failed: int, recurring: bool, state: S) -> None:
    assert lifecycle.after_run(sent=sent, failed=failed, recurring=recurring) == state
    assert lifecycle.allowed(S.RUNNING, state)
