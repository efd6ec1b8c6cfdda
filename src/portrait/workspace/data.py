"""``ws.data``: load data files, build the profile from them, and say what is loaded and
built and which settings are in force."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.config import SETTINGS
from portrait.errors import PortraitError
from portrait.progress import Progress

if TYPE_CHECKING:
    from portrait.ingest import IngestReport
    from portrait.profile import BuildReport
    from portrait.workspace.root import Workspace

REFRESHED_FOR = "segments_refreshed_for"
"""The ``portrait_meta`` row naming the profile version the segments were refreshed for."""


class DataService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def ingest(
        self,
        table: str,
        path: str | os.PathLike[str] | list[Path],
        *,
        mapping: Mapping[str, str] | None = None,
        on_error: str | None = None,
        fmt: str | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Load a users, events or orders file (CSV, Parquet or JSON lines)."""
        from portrait.ingest import ingest

        return ingest(
            self._ws.layout,
            self._ws.config,
            table,
            [Path(p) for p in path] if isinstance(path, list) else Path(path),
            mapping=mapping,
            on_error=on_error,
            fmt=fmt,
            progress=progress,
        )

    def build(
        self, *, full: bool = False, tags: list[str] | None = None, progress: Progress | None = None
    ) -> BuildReport:
        """Compute changed tags into a new profile version (``full``: all of them), then
        re-evaluate the dynamic segments against it.

        The metadata database records the profile version the segments were last refreshed
        for: a build stopped between the swap and the refresh (killed, the database out of
        reach) leaves it behind the live version, and the next build finishes the refresh
        even when the profile itself is up to date."""
        from portrait.profile import build

        ws = self._ws
        report = build(ws.layout, ws.config, full=full, only=tags, progress=progress)
        if ws.has_metadata():
            live = ws.built.version
            # the build stands even when a segment's rule no longer fits, or the metadata
            # database cannot be reached: it is reported
            try:
                if not report.up_to_date or ws.metadata.meta_value(REFRESHED_FOR) != live:
                    report.segments_refreshed, report.segments_failed = ws.segments.refresh_all()
                    with ws.metadata.transaction() as conn:
                        ws.metadata.set_meta_value(conn, REFRESHED_FOR, live)
            except PortraitError as exc:
                report.segments_failed["*"] = str(exc)
        return report

    def status(self) -> dict[str, Any]:
        """Tables loaded, profile built, as-of date and users."""
        ws = self._ws
        warehouse = ws.warehouse
        snap = ws.built
        return {
            "workspace": str(ws.root),
            "warehouse_version": warehouse.version,
            "tables": {
                n: {"rows": t.rows, "columns": len(t.columns), "version": t.version}
                for n, t in warehouse.tables.items()
            },
            "profile_version": snap.version,
            "as_of": snap.as_of.isoformat() if snap.as_of else None,
            "users": snap.users if snap.path else None,
            "tags_built": len(snap.tags),
            "built_at": snap.manifest.built_at,
        }

    def settings(self) -> list[dict[str, Any]]:
        """Every setting with its value and where the value came from."""
        config = self._ws.config
        return [
            {
                "name": s.name,
                "value": config[s.name],
                "source": config.sources[s.name],
                "env": s.env,
                "help": s.help,
            }
            for s in SETTINGS
        ]
