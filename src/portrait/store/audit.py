"""The audit repository: the audit log's writes, in groups, and its reads (the table is in
:mod:`portrait.store.tables`). Who records what, and when entries are grouped, is decided
above this layer (:mod:`portrait.access.audit`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portrait.store.repository import Repository, utc
from portrait.store.tables import audit_log

# A group of audit entries in one statement: the rows travel as one JSON parameter and the
# database unpacks them. An executemany crosses into the driver once per row, and in a server
# each crossing lets the writer thread and the request thread trade the GIL (measured: a
# fifth of a worker's throughput). The timestamps are written as SQLAlchemy writes them.
_GROUP_SQL = {
    "sqlite": "INSERT INTO audit_log (at, actor, action, target, rows) SELECT "
    "json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
    "json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)",
    "postgresql": "INSERT INTO audit_log (at, actor, action, target, rows) SELECT "
    "(e ->> 0)::timestamptz, e ->> 1, e ->> 2, e ->> 3, (e ->> 4)::integer "
    "FROM json_array_elements(%s::json) AS e",
}
_TIME_FORMAT = {"sqlite": "%Y-%m-%d %H:%M:%S.%f", "postgresql": "%Y-%m-%dT%H:%M:%S.%f%z"}


@dataclass(frozen=True)
class AuditRow:
    """One entry of the audit log."""

    at: dt.datetime  # aware, UTC
    actor: str  # an API key id, a console user, or the OS user for the CLI
    action: str
    target: str
    rows: int


class AuditRepository(Repository):
    """The audit log in the metadata database."""

    def append(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append entries (``at`` an aware time, ``actor``, ``action``, ``target``,
        ``rows``) in their order, in one statement."""
        with self._write() as conn:
            dialect = conn.dialect.name
            if dialect not in _GROUP_SQL or len(entries) == 1:
                conn.execute(audit_log.insert(), list(entries))
                return
            at = _TIME_FORMAT[dialect]
            rows = [
                [
                    e["at"].astimezone(dt.UTC).strftime(at),
                    e["actor"],
                    e["action"],
                    e["target"],
                    e["rows"],
                ]
                for e in entries
            ]
            conn.exec_driver_sql(_GROUP_SQL[dialect], (json.dumps(rows),))

    def entries(
        self,
        *,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[AuditRow]:
        """The newest ``limit`` entries, newest first: of ``actor`` and of ``action`` when
        given, written at ``since`` or later and before ``until`` (aware times)."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if since is not None:
            query = query.where(audit_log.c.at >= since.astimezone(dt.UTC))
        if until is not None:
            query = query.where(audit_log.c.at < until.astimezone(dt.UTC))
        return [
            AuditRow(utc(r["at"]), r["actor"], r["action"], r["target"], r["rows"])
            for r in self._mappings(query)
        ]

    def actions(self) -> list[str]:
        """Every action the log has an entry of, in name order."""
        query = select(audit_log.c.action).distinct().order_by(audit_log.c.action)
        return [str(r["action"]) for r in self._mappings(query)]
