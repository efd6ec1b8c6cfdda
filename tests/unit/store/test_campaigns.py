"""The campaign repository (portrait/store/campaigns.py) on a real metadata database, SQLite
and PostgreSQL alike: campaigns, state moves, the change log, runs and their delivery records,
batches, the frequency cap, outcomes, responses and one user's history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from portrait.model.campaigns import CampaignState, DeliveryState, RunState
from portrait.store.campaigns import CampaignRepository, Target
from portrait.store.metadata import MetadataStore, open_database

T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
PENDING, SENT, FAILED = DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.FAILED
CONTROL, SUPPRESSED = DeliveryState.CONTROL, DeliveryState.SUPPRESSED


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CampaignRepository]:
    """A repository on an empty metadata database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine = open_database(url, tmp_path)
    yield CampaignRepository(MetadataStore(engine))
    engine.dispose()


def start(
    repo: CampaignRepository,
    name: str,
    records: list[tuple[int, str, str]],
    *,
    channel: str = "file",
    at: dt.datetime = T0,
    reason: str | None = "frequency cap: 1 per 7 days on file",
) -> int:
    """A run of ``name`` with delivery records (uid, group, state); user ids are ``u<uid>``."""
    return repo.start_run(
        name,
        channel,
        started_at=at,
        profile_version="v0001",
        as_of="2026-10-31",
        batch_size=3,
        uids=[uid for uid, _, _ in records],
        user_ids=[f"u{uid}" for uid, _, _ in records],
        groups=[group for _, group, _ in records],
        states=[str(state) for _, _, state in records],
        reasons=[reason if state == SUPPRESSED else None for _, _, state in records],
    )


def test_a_campaign_is_stored_once_under_its_name(repo: CampaignRepository) -> None:
    assert repo.insert_campaign("b", '{"name": "b"}', CampaignState.DRAFT, T0)
    assert repo.insert_campaign("a", '{"name": "a"}', CampaignState.DRAFT, T0 + HOUR)
    assert not repo.insert_campaign("a", '{"name": "other"}', CampaignState.RUNNING, T0)

    found = repo.campaign("a")
    assert found is not None
    assert (found.name, found.spec, found.state) == ("a", '{"name": "a"}', "draft")
    assert found.created_at == found.updated_at == T0 + HOUR
    assert found.created_at.tzinfo is not None  # aware on SQLite too
    assert repo.names() == ["a", "b"] == [c.name for c in repo.campaigns()]
    assert repo.exists("a") and not repo.exists("c") and repo.campaign("c") is None

    repo.delete_campaign("a")
    assert repo.names() == ["b"]


def test_a_state_moves_only_from_the_state_it_is_in(repo: CampaignRepository) -> None:
    repo.insert_campaign("c", "{}", CampaignState.DRAFT, T0)
    assert repo.set_state("c", CampaignState.DRAFT, CampaignState.RUNNING, T0 + HOUR)
    # a second mover that still believes it is a draft changes nothing
    assert not repo.set_state("c", CampaignState.DRAFT, CampaignState.CANCELLED, T0 + 2 * HOUR)
    found = repo.campaign("c")
    assert found is not None and found.state == "running" and found.updated_at == T0 + HOUR
    assert not repo.set_state("missing", CampaignState.DRAFT, CampaignState.RUNNING, T0)


def test_the_change_log_keeps_its_order_and_plain_state_names(repo: CampaignRepository) -> None:
    for i, (action, before, after) in enumerate(
        [
            ("create", None, CampaignState.DRAFT),
            ("launch", CampaignState.DRAFT, CampaignState.RUNNING),
            ("cancel", CampaignState.RUNNING, CampaignState.CANCELLED),
        ]
    ):
        repo.log_event(
            "c", at=T0 + i * HOUR, actor="alice", action=action, before=before, after=after
        )
    repo.log_event("other", at=T0, actor="bob", action="create", before=None, after="draft")
    log = repo.events("c")
    assert [(e.action, e.from_state, e.to_state) for e in log] == [
        ("create", None, "draft"),
        ("launch", "draft", "running"),
        ("cancel", "running", "cancelled"),
    ]
    assert [e.at for e in log] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert {e.actor for e in log} == {"alice"} and log[0].detail == ""


def test_a_transaction_commits_all_or_nothing(repo: CampaignRepository) -> None:

    def fail_half_way() -> None:
        with repo.transaction() as tx:
            tx.insert_campaign("c", "{}", CampaignState.DRAFT, T0)
            tx.log_event("c", at=T0, actor="a", action="create", before=None, after="draft")
            assert tx.exists("c")  # the transaction sees its own writes
            with tx.transaction() as inner:  # nested: the same transaction
                inner.set_state("c", CampaignState.DRAFT, CampaignState.RUNNING, T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_half_way()
    assert not repo.exists("c") and repo.events("c") == []

    with repo.transaction() as tx:
        tx.insert_campaign("c", "{}", CampaignState.DRAFT, T0)
        start(tx, "c", [(1, "A", PENDING)])
    assert repo.exists("c") and repo.latest_run("c") == 1


def test_a_snapshot_reads_but_never_writes(repo: CampaignRepository) -> None:
    repo.insert_campaign("c", "{}", CampaignState.DRAFT, T0)
    with repo.snapshot() as view:
        assert view.names() == ["c"]
        with pytest.raises(RuntimeError, match="snapshot"):
            view.delete_campaign("c")
        with pytest.raises(RuntimeError, match="snapshot"), view.transaction():
            pass
    assert repo.exists("c")


def test_runs_are_numbered_and_keep_their_frozen_audience(repo: CampaignRepository) -> None:
    assert repo.latest_run("c") is None and repo.open_run("c") is None
    assert repo.last_started("c") is None
    first = start(repo, "c", [(7, "A", PENDING), (2, "control", CONTROL), (5, "B", SUPPRESSED)])
    repo.finish_run("c", first, RunState.COMPLETED, T0 + HOUR)
    second = start(repo, "c", [(3, "A", PENDING)], at=T0 + 24 * HOUR)
    assert (first, second) == (1, 2)
    assert start(repo, "other", [(3, "A", PENDING)]) == 1  # numbered per campaign

    assert repo.latest_run("c") == 2 and repo.open_run("c") == 2
    assert repo.last_started("c") == T0 + 24 * HOUR
    runs = repo.runs("c")
    assert [(r.run, r.state, r.audience_size, r.batch_size) for r in runs] == [
        (1, "completed", 3, 3),
        (2, "running", 1, 3),
    ]
    assert runs[0].started_at == T0 and runs[0].finished_at == T0 + HOUR
    assert runs[1].finished_at is None and runs[1].profile_version == "v0001"
    assert repo.run("c", 1) == runs[0] and repo.run("c", 3) is None
    assert repo.run_members("c", 1).tolist() == [2, 5, 7]  # ascending, as batches walk them

    assert repo.delivery_counts("c", 1) == {"pending": 1, "control": 1, "suppressed": 1}
    assert repo.delivery_counts_by_run("c") == {
        1: {"pending": 1, "control": 1, "suppressed": 1},
        2: {"pending": 1},
    }
    records = {r.uid: r for r in repo.deliveries("c", 1)}
    assert (records[5].user_id, records[5].group, records[5].state) == ("u5", "B", "suppressed")
    assert records[2].state == "control" and records[7].sent_at is None
    suppressed = [h for h in repo.user_deliveries(5) if h.campaign == "c"]
    assert suppressed[0].reason == "frequency cap: 1 per 7 days on file"


def test_cancelling_touches_only_the_running_run(repo: CampaignRepository) -> None:
    start(repo, "c", [(1, "A", PENDING)])
    repo.finish_run("c", 1, RunState.COMPLETED, T0)
    start(repo, "c", [(1, "A", PENDING)])
    repo.cancel_runs("c", T0 + HOUR)
    assert [(r.state, r.finished_at) for r in repo.runs("c")] == [
        ("completed", T0),
        ("cancelled", T0 + HOUR),
    ]
    assert repo.open_run("c") is None


def test_batches_are_the_lowest_pending_uids_and_are_recorded_once(
    repo: CampaignRepository,
) -> None:
    records = [(u, "A", PENDING) for u in (9, 1, 4, 6, 3, 8)] + [(5, "control", CONTROL)]
    run = start(repo, "c", records)
    first = repo.pending("c", run, -1, 3)
    assert first == [(1, "A"), (3, "A"), (4, "A")]
    assert repo.pending("c", run, 4, 3) == [(6, "A"), (8, "A"), (9, "A")]
    assert repo.pending("c", run, 9, 3) == []

    # uid 3 could not be rendered; the others went out
    repo.record_batch("c", run, 1, (1, 4), failed=[(3, "template error: x")], refused=None, at=T0)
    assert repo.pending("c", run, -1, 3) == [(6, "A"), (8, "A"), (9, "A")]
    # the channel refused the next batch for good; the control record (5) lies in no batch
    repo.record_batch("c", run, 6, (5, 9), failed=[], refused="HTTP 400", at=T0 + HOUR)
    assert repo.pending("c", run, -1, 10) == []

    by_uid = {r.uid: r for r in repo.deliveries("c", run)}
    assert {u: r.state for u, r in by_uid.items()} == {
        1: "sent",
        3: "failed",
        4: "sent",
        5: "control",
        6: "failed",
        8: "failed",
        9: "failed",
    }
    assert by_uid[1].sent_at == T0 and by_uid[6].sent_at is None and by_uid[3].sent_at is None
    history = {h.campaign: h for h in repo.user_deliveries(3)}
    assert history["c"].reason == "template error: x"
    assert repo.user_deliveries(8)[0].reason == "HTTP 400"
    assert repo.delivery_counts("c", run) == {"sent": 2, "failed": 4, "control": 1}


def test_the_cap_counts_sent_messages_per_channel_within_the_window(
    repo: CampaignRepository,
) -> None:
    # uid 1: two sent on sms in the window; uid 2: one in, one before it; uid 3: two on
    # another channel; uid 4: sent and failed
    for name, at, records, channel in [
        ("a", T0, [(1, "A", PENDING), (2, "A", PENDING), (4, "A", PENDING)], "sms"),
        ("b", T0 - 10 * 24 * HOUR, [(2, "A", PENDING)], "sms"),
        ("c", T0, [(1, "A", PENDING), (4, "A", PENDING)], "sms"),
        ("d", T0, [(3, "A", PENDING)], "email"),
        ("e", T0, [(3, "A", PENDING)], "email"),
    ]:
        run = start(repo, name, records, channel=channel, at=at)
        uids = [u for u, _, _ in records]
        failed = [(4, "no phone")] if name == "c" else []
        repo.record_batch(name, run, 1, (min(uids), max(uids)), failed=failed, refused=None, at=at)
    since = T0 - 7 * 24 * HOUR
    assert sorted(repo.over_cap("sms", since, 2).tolist()) == [1]
    assert sorted(repo.over_cap("sms", since, 1).tolist()) == [1, 2, 4]
    assert sorted(repo.over_cap("sms", since - 7 * 24 * HOUR, 2).tolist()) == [1, 2]
    assert sorted(repo.over_cap("email", since, 2).tolist()) == [3]
    assert repo.over_cap("push", since, 1).size == 0


def test_members_per_outcome_and_the_metadata_store_agrees(repo: CampaignRepository) -> None:
    run = start(
        repo,
        "c",
        [(1, "A", PENDING), (2, "A", PENDING), (3, "B", PENDING), (4, "control", CONTROL)],
    )
    repo.record_batch("c", run, 1, (1, 3), failed=[(2, "no address")], refused=None, at=T0)
    repo.insert_campaign("c", "{}", CampaignState.COMPLETED, T0)
    stored = repo.add_responses(
        [
            {"campaign": "c", "uid": 1, "response": r, "at": T0 + HOUR, "run": run, "revenue": None}
            for r in ("delivered", "clicked", "converted")
        ]
        + [
            {
                "campaign": "c",
                "uid": 3,
                "response": "delivered",
                "at": T0,
                "run": run,
                "revenue": None,
            },
            {
                "campaign": "c",
                "uid": 4,
                "response": "converted",
                "at": T0,
                "run": run,
                "revenue": 5.0,
            },
        ]
    )
    assert stored == 5
    expected = {
        "targeted": [1, 2, 3, 4],
        "control": [4],
        "sent": [1, 3],
        "delivered": [1, 3],
        "opened": [],
        "clicked": [1],
        "converted": [1, 4],
        "not_converted": [3],
    }
    store = repo.store
    for outcome, uids in expected.items():
        assert repo.members("c", outcome) == uids, outcome
        assert store.campaign_members("c", outcome) == uids, outcome
    assert store.campaign_exists("c") and store.campaign_names() == ["c"]
    with pytest.raises(ValueError, match="unknown campaign outcome"):
        repo.members("c", "bounced")


def test_responses_go_to_the_latest_run_and_are_stored_once(repo: CampaignRepository) -> None:
    first = start(repo, "c", [(1, "A", PENDING), (2, "B", PENDING)])
    repo.record_batch("c", first, 1, (1, 2), failed=[], refused=None, at=T0)
    repo.finish_run("c", first, RunState.COMPLETED, T0)
    second = start(repo, "c", [(2, "B", PENDING)], at=T0 + 24 * HOUR)
    assert repo.targets("c") == {
        "u1": Target(run=first, uid=1, state="sent"),
        "u2": Target(run=second, uid=2, state="pending"),  # the latest run wins
    }
    assert repo.targets("other") == {}

    answer = {"campaign": "c", "uid": 1, "response": "converted", "at": T0, "run": first}
    assert repo.add_responses([answer | {"revenue": 12.5}]) == 1
    # the same (campaign, uid, response, time) again: skipped, whatever the revenue
    again = [answer | {"revenue": 99.0}, answer | {"at": T0 + HOUR, "revenue": None}]
    assert repo.add_responses(again) == 1
    assert repo.add_responses([]) == 0
    found = sorted(repo.responses("c", first), key=lambda r: r.at)
    assert [(r.uid, r.response, r.at, r.revenue) for r in found] == [
        (1, "converted", T0, 12.5),
        (1, "converted", T0 + HOUR, None),
    ]
    assert repo.responses("c", second) == []
    assert sorted(repo.user_responses(1)) == [("c", first, "converted")] * 2


def test_one_users_records_come_by_campaign_and_run(repo: CampaignRepository) -> None:
    for name in ("b", "a"):
        for at in (T0, T0 + 24 * HOUR):
            run = start(repo, name, [(1, "A", PENDING), (2, "control", CONTROL)], at=at)
            repo.finish_run(name, run, RunState.COMPLETED, at)
    assert [(h.campaign, h.run, h.group, h.state) for h in repo.user_deliveries(2)] == [
        ("a", 1, "control", "control"),
        ("a", 2, "control", "control"),
        ("b", 1, "control", "control"),
        ("b", 2, "control", "control"),
    ]
    assert repo.user_deliveries(99) == [] and repo.user_responses(99) == []
