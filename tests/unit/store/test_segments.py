"""The segment repository (portrait/store/segments.py) on SQLite and PostgreSQL: segments saved,
changed and deleted with their snapshots, snapshots keeping the members of the newest only,
the history in order, ID lists replaced by name, and writes that commit with the caller's
transaction or not at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portrait.store.metadata import MetadataStore
from portrait.store.repository import utc
from portrait.store.segments import SegmentRepository, SnapshotRow
from portrait.store.tables import snapshots


class Failed(Exception):
    """Raised inside a transaction, to see it rolled back."""


def segment_values(name: str, rule_text: str = "age > 30") -> dict[str, Any]:
    return {"name": name, "mode": "dynamic", "rule": "{}", "rule_text": rule_text}


def snapshot(
    repo: SegmentRepository, segment: str, members: list[int], keep: int = 2, version: str = "v1"
) -> int:
    return repo.add_snapshot(
        segment,
        BitMap(members).serialize(),
        keep,
        profile_version=version,
        as_of="2026-10-31",
        size=len(members),
        population=10,
        seconds=0.25,
    )


@pytest.fixture
def repo(store: MetadataStore) -> SegmentRepository:
    return SegmentRepository(store)


def test_segments_are_saved_read_by_name_and_listed_in_name_order(repo: SegmentRepository) -> None:
    before = dt.datetime.now(dt.UTC)
    repo.insert_segment(**segment_values("young", "age < 30"))
    repo.insert_segment(**segment_values("old"), description="over thirty")
    young = repo.segment("young")
    assert young is not None
    assert (young["mode"], young["rule_text"], young["description"]) == ("dynamic", "age < 30", "")
    assert young["created_at"] == young["updated_at"]
    assert utc(young["created_at"]) >= before
    assert [s["name"] for s in repo.segments()] == ["old", "young"]
    assert repo.segments()[0]["description"] == "over thirty"
    assert repo.segment("nosuch") is None
    with pytest.raises(IntegrityError):  # one segment per name
        repo.insert_segment(**segment_values("old"))


def test_a_changed_segment_keeps_its_creation_time(repo: SegmentRepository) -> None:
    repo.insert_segment(**segment_values("s"))
    first = repo.segment("s")
    assert first is not None
    repo.update_segment("s", rule_text="age > 40", mode="static")
    changed = repo.segment("s")
    assert changed is not None
    assert (changed["rule_text"], changed["mode"]) == ("age > 40", "static")
    assert changed["created_at"] == first["created_at"]
    assert changed["updated_at"] > first["updated_at"]


def test_only_the_newest_snapshots_keep_their_members(repo: SegmentRepository) -> None:
    repo.insert_segment(**segment_values("s"))
    repo.insert_segment(**segment_values("other"))
    ids = [snapshot(repo, "s", list(range(n)), keep=2, version=f"v{n}") for n in (1, 2, 3)]
    snapshot(repo, "other", [7], keep=1)
    assert ids == sorted(ids) and len(set(ids)) == 3
    latest = repo.latest_snapshot("s")
    assert latest is not None and latest["id"] == ids[-1]
    assert BitMap.deserialize(latest["members"]) == BitMap([0, 1, 2])
    history = repo.history("s")
    assert [h.id for h in history] == ids and [h.size for h in history] == [1, 2, 3]
    assert all(h.evaluated_at.utcoffset() == dt.timedelta(0) for h in history)  # aware, UTC
    assert history[0] == SnapshotRow(
        ids[0], "s", history[0].evaluated_at, "v1", "2026-10-31", 1, 10, 0.25
    )
    snapshot(repo, "s", [9], keep=1)  # now only the newest keeps them
    newest = repo.latest_snapshot("s")
    assert newest is not None and BitMap.deserialize(newest["members"]) == BitMap([9])
    other = repo.latest_snapshot("other")
    assert other is not None and BitMap.deserialize(other["members"]) == BitMap([7])
    assert repo.history("nosuch") == [] and repo.latest_snapshot("nosuch") is None


def test_members_are_dropped_oldest_first(store: MetadataStore, repo: SegmentRepository) -> None:
    repo.insert_segment(**segment_values("s"))
    ids = [snapshot(repo, "s", [n], keep=2) for n in range(4)]
    with store.engine.connect() as conn:
        rows = conn.execute(select(snapshots.c.id, snapshots.c.members).order_by("id")).all()
    assert [(i, m is not None) for i, m in rows] == [
        (ids[0], False),
        (ids[1], False),
        (ids[2], True),
        (ids[3], True),
    ]


def test_a_snapshot_needs_its_segment(repo: SegmentRepository) -> None:
    with pytest.raises(IntegrityError):
        snapshot(repo, "nosuch", [1])


def test_deleting_a_segment_deletes_its_snapshots(repo: SegmentRepository) -> None:
    for name in ("s", "t"):
        repo.insert_segment(**segment_values(name))
        snapshot(repo, name, [1, 2])
    repo.delete_segment("s")
    assert repo.segment("s") is None and repo.history("s") == []
    assert repo.latest_snapshot("s") is None
    assert [h.segment for h in repo.history("t")] == ["t"]  # the other one untouched
    repo.insert_segment(**segment_values("s"))  # the name is free again
    assert repo.history("s") == []


def test_id_lists_are_replaced_by_name(repo: SegmentRepository) -> None:
    values = {"source": "/data/crm.csv", "rows": 3, "matched": 2, "unmatched": 1, "duplicates": 0}
    repo.save_id_list("crm", members=BitMap([1, 2]).serialize(), **values)
    repo.save_id_list("app", members=BitMap([5]).serialize(), **values)
    assert repo.id_list_names() == ["app", "crm"]
    crm = repo.id_list("crm")
    assert crm is not None
    assert {k: crm[k] for k in values} == values
    assert BitMap.deserialize(crm["members"]) == BitMap([1, 2])
    repo.save_id_list("crm", members=BitMap([3]).serialize(), **(values | {"matched": 1}))
    again = repo.id_list("crm")
    assert again is not None and again["matched"] == 1
    assert BitMap.deserialize(again["members"]) == BitMap([3])
    repo.delete_id_list("crm")
    assert repo.id_list("crm") is None and repo.id_list_names() == ["app"]
    repo.delete_id_list("crm")  # deleting what is not there does nothing


def test_writes_in_the_callers_transaction_commit_with_it_or_not_at_all(
    store: MetadataStore,
) -> None:
    def save_then_fail() -> None:
        with store.transaction() as conn:
            bound = SegmentRepository(store, conn)
            bound.insert_segment(**segment_values("s"))
            snapshot(bound, "s", [1])
            store.bump(conn)
            raise Failed

    with pytest.raises(Failed):
        save_then_fail()
    repo = SegmentRepository(store)
    assert repo.segment("s") is None and repo.history("s") == [] and store.generation() == 0
    with repo.transaction() as tx:  # a segment with its first snapshot, together
        tx.insert_segment(**segment_values("s"))
        snapshot(tx, "s", [1])
    assert [h.size for h in repo.history("s")] == [1]


def test_the_stores_methods_are_the_repositorys(store: MetadataStore) -> None:
    """MetadataStore keeps its segment methods, as the audience code calls them."""
    with store.transaction() as conn:
        store.insert_segment(conn, **segment_values("s"))
        sid = store.add_snapshot(
            conn,
            "s",
            BitMap([4]).serialize(),
            1,
            profile_version="v1",
            as_of=None,
            size=1,
            population=9,
            seconds=0.5,
        )
        store.update_segment(conn, "s", description="d")
        store.save_id_list(
            conn,
            "ids",
            source="x",
            rows=1,
            matched=1,
            unmatched=0,
            duplicates=0,
            members=BitMap([4]).serialize(),
        )
        store.bump(conn)
    repo = SegmentRepository(store)
    assert store.segment("s") == repo.segment("s") and store.segments() == repo.segments()
    assert store.segments()[0]["description"] == "d"
    assert store.history("s") == repo.history("s") and store.history("s")[0].id == sid
    assert store.latest_snapshot("s") == repo.latest_snapshot("s")
    assert store.id_list("ids") == repo.id_list("ids") and store.id_list_names() == ["ids"]
    with store.transaction() as conn:
        store.delete_segment(conn, "s")
        store.delete_id_list(conn, "ids")
    assert store.segments() == [] and store.id_list_names() == [] and store.generation() == 1
