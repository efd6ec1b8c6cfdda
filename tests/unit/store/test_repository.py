"""What every repository shares (portrait/store/repository.py), on SQLite and PostgreSQL: reads
and writes on connections of their own, writes grouped in one transaction or joining the
caller's, read-only snapshots, and times handed back in UTC."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portrait.store.metadata import MetadataStore, meta_table
from portrait.store.repository import Repository, utc, utc_or_none


class Failed(Exception):
    """Raised inside a transaction, to see it rolled back."""


class Values(Repository):
    """A repository of ``portrait_meta`` rows, for the test."""

    def put(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(meta_table.insert().values(key=key, value=value))

    def get(self, key: str) -> str | None:
        return self._scalar(select(meta_table.c.value).where(meta_table.c.key == key))


def test_each_call_on_its_own_commits_at_once(store: MetadataStore) -> None:
    Values(store).put("a", "1")
    assert Values(store).get("a") == "1" and store.meta_value("a") == "1"


def test_a_transaction_commits_its_writes_together_or_none(store: MetadataStore) -> None:
    values = Values(store)
    with values.transaction() as tx:
        tx.put("a", "1")
        tx.put("b", "2")
        assert tx.get("a") == "1"  # its own writes are visible inside it
    assert (values.get("a"), values.get("b")) == ("1", "2")

    def write_then_fail() -> None:
        with values.transaction() as tx:
            tx.put("c", "3")
            with tx.transaction() as inner:  # inside one already: the same one
                assert inner is tx
                inner.put("d", "4")
            raise Failed

    with pytest.raises(Failed):
        write_then_fail()
    assert values.get("c") is None and values.get("d") is None


def test_a_repository_made_with_a_connection_joins_the_callers_transaction(
    store: MetadataStore,
) -> None:

    def write_then_fail() -> None:
        with store.transaction() as conn:
            Values(store, conn).put("a", "1")
            store.bump(conn)
            raise Failed

    with pytest.raises(Failed):
        write_then_fail()
    assert Values(store).get("a") is None and store.generation() == 0
    with store.transaction() as conn:
        Values(store, conn).put("a", "1")
        store.bump(conn)
    assert Values(store).get("a") == "1" and store.generation() == 1


def test_a_snapshot_reads_on_one_connection_and_refuses_writes(store: MetadataStore) -> None:
    values = Values(store)
    values.put("a", "1")
    with values.snapshot() as snap:
        assert snap.get("a") == "1"
        with snap.snapshot() as inner:
            assert inner is snap
        with pytest.raises(RuntimeError, match="a write inside a snapshot"):
            snap.put("b", "2")
        with (
            pytest.raises(RuntimeError, match="a transaction inside a snapshot"),
            snap.transaction(),
        ):
            pass
    assert values.get("b") is None


def test_times_come_back_aware_in_utc() -> None:
    naive = dt.datetime(2026, 10, 1, 12, 0)
    assert utc(naive) == dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
    beijing = dt.datetime(2026, 10, 1, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert utc(beijing) is beijing  # an aware time is kept as it is
    assert utc_or_none(None) is None and utc_or_none(naive) == utc(naive)
