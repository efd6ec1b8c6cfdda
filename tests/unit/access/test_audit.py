"""The audit log's grouped writes: a reader sees every entry recorded before it asked, even
those the writer thread is committing at that moment."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from portrait.access.audit import Audit
from portrait.store.metadata import MetadataStore, open_database


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    return MetadataStore(open_database("", tmp_path))


def test_entries_wait_for_the_entries_being_written(
    store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = threading.Event()
    append = store.append_audit

    def slow_append(conn: Any, entries: list[dict[str, Any]]) -> None:
        taken.set()  # the writer thread has taken the entries off the waiting list
        time.sleep(0.3)
        append(conn, entries)

    monkeypatch.setattr(store, "append_audit", slow_append)
    audit = Audit(store)
    audit.write_behind(interval=0.01)
    try:
        audit.record("key1", "user:read", "u1", 1)
        assert taken.wait(5)
        seen = audit.entries(limit=10)
    finally:
        audit.close()
    assert [(e["actor"], e["action"], e["target"]) for e in seen] == [("key1", "user:read", "u1")]


def test_without_grouping_each_entry_is_written_at_once(store: MetadataStore) -> None:
    audit = Audit(store)
    audit.record("alice", "profile:read", "", 3)
    fresh = Audit(store)  # another process's view of the same database
    assert [(e["actor"], e["rows"]) for e in fresh.entries()] == [("alice", 3)]
