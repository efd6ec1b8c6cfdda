"""The warehouse: ingested tables as Parquet files in versioned folders.

Each version folder holds ``manifest.json`` and, per table, its Parquet files. The manifest
records per table: files, row count, column types, a version number that changes whenever the
table's content changes (tag builds use it to decide what to recompute) and the batches
(content hashes of ingested files, for idempotent re-ingest).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portrait.model.schema import Schema
from portrait.store.layout import Layout
from portrait.store.manifest import read_manifest
from portrait.store.versions import VersionedDir


@dataclass(frozen=True)
class TableState:
    name: str
    files: list[str]
    rows: int
    columns: dict[str, str]
    version: int
    batches: list[dict[str, Any]] = field(default_factory=list)
    max_uid: int = -1
    max_time: str | None = None

    def paths(self, version_dir: Path) -> list[Path]:
        return [version_dir / f for f in self.files]

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "columns": self.columns,
            "version": self.version,
            "batches": self.batches,
            "max_uid": self.max_uid,
            "max_time": self.max_time,
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> TableState:
        return cls(
            name=name,
            files=list(data["files"]),
            rows=int(data["rows"]),
            columns=dict(data["columns"]),
            version=int(data["version"]),
            batches=list(data.get("batches", [])),
            max_uid=int(data.get("max_uid", -1)),
            max_time=data.get("max_time"),
        )


@dataclass(frozen=True)
class WarehouseSnapshot:
    """One consistent version of the warehouse (what a build reads)."""

    path: Path | None
    tables: dict[str, TableState]

    @property
    def version(self) -> str:
        return self.path.name if self.path else "none"

    def schema(self) -> Schema:
        return {name: dict(t.columns) for name, t in self.tables.items()}

    def files(self, table: str) -> list[Path]:
        """The Parquet files of ``table`` in this version (none when it was never loaded)."""
        state = self.tables.get(table)
        if state is None or self.path is None:
            return []
        return state.paths(self.path)

    def last_event_date(self) -> dt.date | None:
        """The date of the last recorded event (else order) time; a recorded time that is not
        a timestamp (a year beyond 9999, stored before ingest checked the range) is skipped."""
        for names in (("events",), tuple(self.tables)):
            times = [
                parsed
                for t in self.tables.values()
                if t.name in names and (parsed := _parse_time(t.max_time)) is not None
            ]
            if times:
                return max(times).date()
        return None


def _parse_time(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def warehouse_dir(layout: Layout) -> VersionedDir:
    return VersionedDir(layout.warehouse_dir)


def snapshot(layout: Layout, version: str | None = None) -> WarehouseSnapshot:
    """The live warehouse version, or the named one while it is still kept (``None`` when it
    has been pruned)."""
    current = warehouse_dir(layout).current()
    if version is not None and (current is None or current.name != version):
        kept = layout.warehouse_dir / version
        current = kept if (kept / "manifest.json").is_file() else None
    manifest = read_manifest(current)
    tables = {
        name: TableState.from_json(name, data) for name, data in manifest.get("tables", {}).items()
    }
    return WarehouseSnapshot(current, tables)
