"""The audit log: who read which users, exported what, ran which campaign action, when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from portrait.store.metadata import MetadataStore, audit_log


class Audit:
    def __init__(self, store: MetadataStore):
        self.store = store

    def record(self, actor: str, action: str, target: str, rows: int = 0) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=dt.datetime.now(dt.UTC), actor=actor, action=action, target=target, rows=rows
                )
            )

    def entries(self, *, limit: int = 100, actor: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for r in rows:
            at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=dt.UTC)
            out.append(
                {
                    "at": at.isoformat(timespec="seconds"),
                    "actor": r["actor"],
                    "action": r["action"],
                    "target": r["target"],
                    "rows": r["rows"],
                }
            )
        return out
