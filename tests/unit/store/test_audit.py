"""The audit repository (portrait/store/audit.py) on SQLite and PostgreSQL: entries appended
one or many at a time keep their order and their instants, and read back newest first, by
actor and up to a limit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portrait.store.audit import AuditRepository, AuditRow
from portrait.store.metadata import MetadataStore

T0 = dt.datetime(2026, 10, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
BEIJING = dt.timezone(dt.timedelta(hours=8))


class Failed(Exception):
    """Raised inside a transaction, to see it rolled back."""


def entry(actor: str, action: str, target: str = "", rows: int = 0, at: dt.datetime = T0) -> Any:
    return {"at": at, "actor": actor, "action": action, "target": target, "rows": rows}


@pytest.fixture
def log(store: MetadataStore) -> AuditRepository:
    return AuditRepository(store)


def test_one_entry_is_read_back_as_written(log: AuditRepository) -> None:
    log.append([entry("alice", "profile:read", "u1", 3)])
    (row,) = log.entries()
    assert row == AuditRow(T0, "alice", "profile:read", "u1", 3)
    assert row.at.utcoffset() == dt.timedelta(0)


def test_a_group_keeps_its_order_and_its_instants(log: AuditRepository) -> None:
    group = [
        entry(
            "key1", "user:read", f"u{i}", i, at=(T0 + dt.timedelta(seconds=i)).astimezone(BEIJING)
        )
        for i in range(5)
    ]
    log.append(group)
    rows = log.entries()
    assert [r.target for r in rows] == ["u4", "u3", "u2", "u1", "u0"]  # newest first
    assert [r.rows for r in rows] == [4, 3, 2, 1, 0]
    assert [r.at for r in rows] == [T0 + dt.timedelta(seconds=i) for i in (4, 3, 2, 1, 0)]
    assert all(r.at.utcoffset() == dt.timedelta(0) for r in rows)
    log.append([entry("key1", "export", "vip", 2000, at=T0 - dt.timedelta(days=1))])
    assert log.entries(limit=1)[0].action == "export"  # newest by when written, not by time


def test_entries_by_actor_and_up_to_a_limit(log: AuditRepository) -> None:
    log.append([entry("alice", "a1"), entry("bob", "b1"), entry("alice", "a2")])
    log.append([entry("bob", "b2")])
    assert [r.action for r in log.entries()] == ["b2", "a2", "b1", "a1"]
    assert [r.action for r in log.entries(limit=2)] == ["b2", "a2"]
    assert [r.action for r in log.entries(actor="alice")] == ["a2", "a1"]
    assert [r.action for r in log.entries(actor="alice", limit=1)] == ["a2"]
    assert log.entries(actor="nobody") == []


def test_entries_written_in_the_callers_transaction_go_with_it(
    store: MetadataStore, log: AuditRepository
) -> None:
    def write_then_fail() -> None:
        with store.transaction() as conn:
            store.append_audit(conn, [entry("alice", "a1"), entry("alice", "a2")])
            assert len(AuditRepository(store, conn).entries()) == 2
            raise Failed

    with pytest.raises(Failed):
        write_then_fail()
    assert log.entries() == []
    with store.transaction() as conn:
        store.append_audit(conn, [entry("alice", "a1")])
    assert [r.action for r in log.entries()] == ["a1"]


def test_entries_by_action_and_time_range(log: AuditRepository) -> None:
    minute = dt.timedelta(minutes=1)
    log.append(
        [
            entry("alice", "user:read", "u1", at=T0),
            entry("bob", "user:read", "u2", at=T0 + minute),
            entry("alice", "key:create", "k1", at=T0 + 2 * minute),
            entry("alice", "user:read", "u3", at=T0 + 3 * minute),
        ]
    )
    assert [r.target for r in log.entries(action="user:read")] == ["u3", "u2", "u1"]
    assert [r.target for r in log.entries(action="user:read", actor="alice")] == ["u3", "u1"]
    assert log.entries(action="user") == []  # an action is matched whole
    # since is inclusive, until exclusive; a zone other than UTC means the same instant
    assert [r.target for r in log.entries(since=T0 + minute)] == ["u3", "k1", "u2"]
    assert [r.target for r in log.entries(until=T0 + minute)] == ["u1"]
    between = log.entries(since=(T0 + minute).astimezone(BEIJING), until=T0 + 3 * minute)
    assert [r.target for r in between] == ["k1", "u2"]
    newest = log.entries(action="user:read", since=T0 + minute, limit=1)
    assert [r.target for r in newest] == ["u3"]
    assert log.actions() == ["key:create", "user:read"]
