"""The segment repository: segments, their snapshots and uploaded ID lists (the tables are in
:mod:`portrait.store.tables`).

Rows come back as dicts of the stored columns, as the audience code reads them; a snapshot's
history as :class:`SnapshotRow`. Writes are meant for the caller's transaction
(``SegmentRepository(store, conn)``), which also counts the change
(:meth:`MetadataStore.bump <portrait.store.metadata.MetadataStore.bump>`): a segment is saved
with its first snapshot or not at all. Members are serialized Roaring bitmaps of dense ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portrait.store.repository import Repository, utc
from portrait.store.tables import id_lists, segments, snapshots


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SnapshotRow:
    """One evaluation of a segment (without its members)."""

    id: int
    segment: str
    evaluated_at: dt.datetime
    profile_version: str
    as_of: str | None
    size: int
    population: int
    seconds: float


class SegmentRepository(Repository):
    """Segments, snapshots and ID lists in the metadata database (see the module docstring)."""

    # -- segments ---------------------------------------------------------------------
    def segment(self, name: str) -> dict[str, Any] | None:
        row = self._first(select(segments).where(segments.c.name == name))
        return dict(row) if row else None

    def segments(self) -> list[dict[str, Any]]:
        """Every segment, by name."""
        return [dict(r) for r in self._mappings(select(segments).order_by(segments.c.name))]

    def insert_segment(self, **values: Any) -> None:
        now = _now()
        with self._write() as conn:
            conn.execute(segments.insert().values(created_at=now, updated_at=now, **values))

    def update_segment(
        self, name: str, *, expected_updated_at: dt.datetime | None = None, **values: Any
    ) -> bool:
        """Change a segment. With ``expected_updated_at``, only if it was last changed then
        (compared and changed in one statement, so two writers cannot both pass the check).
        Returns whether a segment was changed."""
        query = segments.update().where(segments.c.name == name)
        if expected_updated_at is not None:
            query = query.where(segments.c.updated_at == expected_updated_at)
        with self._write() as conn:
            result = conn.execute(query.values(updated_at=_now(), **values))
        return bool(result.rowcount)

    def delete_segment(self, name: str) -> None:
        """Delete a segment with its snapshots."""
        with self._write() as conn:
            conn.execute(snapshots.delete().where(snapshots.c.segment == name))
            conn.execute(segments.delete().where(segments.c.name == name))

    # -- snapshots --------------------------------------------------------------------
    def add_snapshot(self, segment: str, members: bytes, keep_members: int, **values: Any) -> int:
        """Record an evaluation; members are kept for the newest ``keep_members`` only.
        Returns the snapshot's id. Two evaluations of one segment recorded at once take turns
        (the segment's row is locked first, on PostgreSQL; SQLite has one writer anyway):
        otherwise each could clear the members of the other's new snapshot and leave fewer
        than ``keep_members``."""
        with self._write() as conn:
            conn.execute(
                select(segments.c.name).where(segments.c.name == segment).with_for_update()
            )
            result = conn.execute(
                snapshots.insert().values(
                    segment=segment, evaluated_at=_now(), members=members, **values
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            newest = (
                select(snapshots.c.id)
                .where(snapshots.c.segment == segment)
                .order_by(snapshots.c.id.desc())
                .limit(keep_members)
            )
            kept = list(conn.execute(newest).scalars())
            conn.execute(
                snapshots.update()
                .where(snapshots.c.segment == segment, snapshots.c.id.not_in(kept))
                .values(members=None)
            )
        return int(key[0])

    def latest_snapshot(self, segment: str) -> dict[str, Any] | None:
        """The newest snapshot that still has its members."""
        row = self._first(
            select(snapshots)
            .where(snapshots.c.segment == segment, snapshots.c.members.is_not(None))
            .order_by(snapshots.c.id.desc())
            .limit(1)
        )
        return dict(row) if row else None

    def history(self, segment: str) -> list[SnapshotRow]:
        """Every snapshot of ``segment``, oldest first (times aware, UTC)."""
        columns = [c for c in snapshots.c if c.name != "members"]
        query = select(*columns).where(snapshots.c.segment == segment).order_by(snapshots.c.id)
        rows = [dict(r) for r in self._mappings(query)]
        return [SnapshotRow(**(row | {"evaluated_at": utc(row["evaluated_at"])})) for row in rows]

    # -- ID lists ---------------------------------------------------------------------
    def id_list(self, name: str) -> dict[str, Any] | None:
        row = self._first(select(id_lists).where(id_lists.c.name == name))
        return dict(row) if row else None

    def id_list_names(self) -> list[str]:
        return [str(r[0]) for r in self._all(select(id_lists.c.name).order_by(id_lists.c.name))]

    def save_id_list(self, name: str, **values: Any) -> None:
        """Store an ID list, replacing one of that name."""
        with self._write() as conn:
            conn.execute(id_lists.delete().where(id_lists.c.name == name))
            conn.execute(id_lists.insert().values(name=name, created_at=_now(), **values))

    def delete_id_list(self, name: str) -> None:
        with self._write() as conn:
            conn.execute(id_lists.delete().where(id_lists.c.name == name))
