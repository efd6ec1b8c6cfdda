"""The metadata database: segments with their snapshots and ID lists, campaigns, API keys, the
audit log and the privacy ledger, in SQLAlchemy Core over SQLite (``meta/portrait.db``, the
default) or PostgreSQL. Every change is one transaction, so a failed command leaves the
database as it was. Members are stored as serialized Roaring bitmaps of dense user ids
(portable bytes; dense ids are stable).

What is where:

- :mod:`portrait.store.tables`: every table, the live schema (the Alembic revisions in
  ``store/migrations`` build it; a test checks that the two agree);
- :mod:`portrait.store.database`: opening a database (URL, SQLite pragmas, schema upgrade);
- one repository per aggregate, each over a :class:`MetadataStore`
  (:mod:`portrait.store.repository`): :mod:`~portrait.store.segments` (segments, snapshots, ID
  lists), :mod:`~portrait.store.campaigns`, :mod:`~portrait.store.keys`,
  :mod:`~portrait.store.audit`, :mod:`~portrait.store.privacy`;
- here, :class:`MetadataStore`: the engine and its transactions, the change counter, the
  workspace's values and secrets in ``portrait_meta``, and one-line delegates to the
  repositories for the callers that use them. The tables and ``open_database`` are re-exported.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Integer, String, cast, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from portrait.store import schema
from portrait.store.audit import AuditRepository
from portrait.store.campaigns import CampaignRepository
from portrait.store.database import database_url, open_database
from portrait.store.segments import SegmentRepository, SnapshotRow
from portrait.store.tables import (
    api_keys,
    audit_log,
    campaign_events,
    campaign_runs,
    campaigns,
    console_sessions,
    console_users,
    deliveries,
    id_lists,
    meta_table,
    metadata,
    privacy_ledger,
    responses,
    segments,
    snapshots,
)

__all__ = [
    "GENERATION_MEMO",
    "SCHEMA_VERSION",
    "MetadataStore",
    "SnapshotRow",
    "api_keys",
    "audit_log",
    "campaign_events",
    "campaign_runs",
    "campaigns",
    "console_sessions",
    "console_users",
    "database_url",
    "deliveries",
    "id_lists",
    "meta_table",
    "metadata",
    "open_database",
    "privacy_ledger",
    "responses",
    "segments",
    "snapshots",
]

SCHEMA_VERSION = int(schema.HEAD_REVISION)
"""The ``portrait_meta.schema_version`` the newest revision writes (Portrait before Alembic
read only that)."""


_GENERATION_SQL = "SELECT value FROM portrait_meta WHERE key = 'generation'"
GENERATION_MEMO = 0.005  # seconds


class MetadataStore:
    """The metadata database of a workspace: its transactions, the change counter (a cache
    key), ``portrait_meta`` values; the repositories take it (``SegmentRepository(store)``)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._generation = 0
        self._generation_at = -1.0

    def schema_status(self) -> dict[str, Any]:
        """The backend, the database (password hidden), its schema revision and the newest
        this Portrait knows (equal once opened: opening upgrades)."""
        return schema.describe(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on any error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            self._generation_at = -1.0

    def generation(self) -> int:
        """A counter bumped by every change of segments, ID lists or API keys (cache key)."""
        # Asked several times per API request: an answer a millisecond old is as good as a
        # fresh one (a request cannot tell which came first, it or another process's change);
        # this process's own changes clear it. Plain SQL skips statement compilation.
        now = time.monotonic()
        if now - self._generation_at < GENERATION_MEMO:
            return self._generation
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(_GENERATION_SQL).first()
        self._generation, self._generation_at = (int(row[0]) if row else 0), now
        return self._generation

    def bump(self, conn: Connection) -> None:
        """Count a change, atomically: one UPDATE computing value + 1 in the database (a read
        then a write would let two concurrent writers on PostgreSQL store the same number)."""
        increment = (
            meta_table.update()
            .where(meta_table.c.key == "generation")
            .values(value=cast(cast(meta_table.c.value, Integer) + 1, String))
        )
        if conn.execute(increment).rowcount:
            return
        try:  # the first change of a new database: another writer may insert it first
            with conn.begin_nested():
                conn.execute(meta_table.insert().values(key="generation", value="1"))
        except IntegrityError:
            conn.execute(increment)

    # -- workspace values ---------------------------------------------------------------
    def meta_value(self, key: str) -> str | None:
        """A value of ``portrait_meta`` (None when unset)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == key)
            ).scalar_one_or_none()
        return None if value is None else str(value)

    def set_meta_value(self, conn: Connection, key: str, value: str) -> None:
        conn.execute(meta_table.delete().where(meta_table.c.key == key))
        conn.execute(meta_table.insert().values(key=key, value=value))

    def secret(self, key: str) -> bytes:
        """A random 32-byte secret of this workspace, made on first use; every process and
        server sharing the database gets the same one."""
        import secrets

        found = self.meta_value(key)
        if found is None:
            try:
                with self.transaction() as conn:
                    conn.execute(meta_table.insert().values(key=key, value=secrets.token_hex(32)))
            except IntegrityError:  # another process made it first
                pass
            found = self.meta_value(key)
            assert found is not None
        return bytes.fromhex(found)

    # -- segments, snapshots and ID lists: store/segments.py ------------------------------
    # One-line delegates, as the audience code calls them: writes with the connection of a
    # transaction that also counts the change (bump).
    def segment(self, name: str) -> dict[str, Any] | None:
        return SegmentRepository(self).segment(name)

    def segments(self) -> list[dict[str, Any]]:
        return SegmentRepository(self).segments()

    def insert_segment(self, conn: Connection, **values: Any) -> None:
        SegmentRepository(self, conn).insert_segment(**values)

    def update_segment(
        self,
        conn: Connection,
        name: str,
        *,
        expected_updated_at: dt.datetime | None = None,
        **values: Any,
    ) -> bool:
        return SegmentRepository(self, conn).update_segment(
            name, expected_updated_at=expected_updated_at, **values
        )

    def delete_segment(self, conn: Connection, name: str) -> None:
        SegmentRepository(self, conn).delete_segment(name)

    def add_snapshot(
        self, conn: Connection, segment: str, members: bytes, keep_members: int, **values: Any
    ) -> int:
        return SegmentRepository(self, conn).add_snapshot(segment, members, keep_members, **values)

    def latest_snapshot(self, segment: str) -> dict[str, Any] | None:
        return SegmentRepository(self).latest_snapshot(segment)

    def history(self, segment: str) -> list[SnapshotRow]:
        return SegmentRepository(self).history(segment)

    def id_list(self, name: str) -> dict[str, Any] | None:
        return SegmentRepository(self).id_list(name)

    def id_list_names(self) -> list[str]:
        return SegmentRepository(self).id_list_names()

    def save_id_list(self, conn: Connection, name: str, **values: Any) -> None:
        SegmentRepository(self, conn).save_id_list(name, **values)

    def delete_id_list(self, conn: Connection, name: str) -> None:
        SegmentRepository(self, conn).delete_id_list(name)

    # -- the audit log: store/audit.py --------------------------------------------------
    def append_audit(self, conn: Connection, entries: list[dict[str, Any]]) -> None:
        """Append audit entries in one statement inside transaction ``conn`` (the audit
        writer, :class:`portrait.access.audit.Audit`, calls it)."""
        AuditRepository(self, conn).append(entries)

    # -- campaigns --------------------------------------------------------------------
    # What rules ask of campaigns; every campaign query is in store/campaigns.py.
    def campaign_exists(self, name: str) -> bool:
        return self._campaigns().exists(name)

    def campaign_names(self) -> list[str]:
        return self._campaigns().names()

    def campaign_members(self, name: str, outcome: str) -> list[int]:
        """Dense ids of a campaign's users (all runs) with an outcome (see
        ``model.rules.CampaignRef``)."""
        return self._campaigns().members(name, outcome)

    def _campaigns(self) -> CampaignRepository:
        return CampaignRepository(self)
