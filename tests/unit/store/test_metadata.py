"""The metadata store itself (portrait/store/metadata.py) on SQLite and PostgreSQL: the change
counter, ``portrait_meta`` values and secrets; and the names other modules import from it."""

from __future__ import annotations

import time

import pytest

from portrait.store import metadata, tables
from portrait.store.database import open_database
from portrait.store.metadata import GENERATION_MEMO, MetadataStore
from portrait.store.segments import SnapshotRow


class Failed(Exception):
    """Raised inside a transaction, to see it rolled back."""


def test_the_counter_counts_committed_changes_only(store: MetadataStore) -> None:
    assert store.generation() == 0  # a new database: no row yet
    with store.transaction() as conn:
        store.bump(conn)
        store.bump(conn)
    assert store.generation() == 2

    def bump_then_fail() -> None:
        with store.transaction() as conn:
            store.bump(conn)
            raise Failed

    with pytest.raises(Failed):
        bump_then_fail()
    assert store.generation() == 2


def test_another_processs_change_is_seen_once_the_memo_is_stale(store: MetadataStore) -> None:
    other = MetadataStore(store.engine)  # another process's view of the same database
    assert store.generation() == 0
    with other.transaction() as conn:
        other.bump(conn)
    time.sleep(GENERATION_MEMO * 2)
    assert store.generation() == 1


def test_values_are_replaced_by_key(store: MetadataStore) -> None:
    assert store.meta_value("refreshed_for") is None
    with store.transaction() as conn:
        store.set_meta_value(conn, "refreshed_for", "v0001")
    with store.transaction() as conn:
        store.set_meta_value(conn, "refreshed_for", "v0002")
    assert store.meta_value("refreshed_for") == "v0002"


def test_a_secret_is_made_once_and_shared(store: MetadataStore) -> None:
    first = store.secret("noise")
    assert len(first) == 32
    assert MetadataStore(store.engine).secret("noise") == first  # every process, the same
    assert store.secret("other") != first


def test_every_table_and_opening_are_still_importable_from_here() -> None:
    exported = {id(getattr(metadata, name)) for name in metadata.__all__}
    assert all(id(table) in exported for table in tables.metadata.tables.values())
    assert metadata.metadata is tables.metadata and metadata.open_database is open_database
    assert metadata.SnapshotRow is SnapshotRow
