"""The audit log: who read which users, exported what, ran which campaign action, when.

A command line run writes each entry at once. A server answering thousands of user reads a
second cannot afford a database commit per read (and its workers would queue on the write
lock), so it turns on **grouped writes** (:meth:`Audit.write_behind`): entries wait in memory
at most ``interval`` seconds (or until ``max_pending`` are waiting) and are written in one
transaction; stopping the server writes what is waiting. A killed process loses at most the
last ``interval`` seconds of entries.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from portrait.store.audit import AuditRepository
from portrait.store.metadata import MetadataStore

_log = logging.getLogger("portrait.audit")


class Audit:
    def __init__(self, store: MetadataStore):
        self.store = store
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards the waiting entries
        self._flushing = threading.Lock()  # held while entries are taken and written
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._interval = 0.0
        self._max_pending = 1

    def record(self, actor: str, action: str, target: str, rows: int = 0) -> None:
        entry = {
            "at": dt.datetime.now(dt.UTC),
            "actor": actor,
            "action": action,
            "target": target,
            "rows": rows,
        }
        if self._writer is None:
            self._write([entry])
            return
        with self._lock:
            self._pending.append(entry)
            full = len(self._pending) >= self._max_pending
        if full:
            self._wake.set()

    def write_behind(self, interval: float = 0.2, max_pending: int = 2000) -> None:
        """Group writes from now on: at most ``interval`` seconds late (see the module)."""
        if self._writer is not None:
            return
        self._interval, self._max_pending = interval, max_pending
        self._stop.clear()
        self._writer = threading.Thread(target=self._run, name="portrait-audit", daemon=True)
        self._writer.start()

    def flush(self) -> None:
        """Write every waiting entry now. Whoever flushes holds the flushing lock until its
        entries are committed, so a reader that flushes (:meth:`entries`) also waits for the
        entries the writer thread took a moment before."""
        with self._flushing:
            with self._lock:
                entries, self._pending = self._pending, []
            if entries:
                self._write(entries)

    def close(self) -> None:
        """Stop grouping writes; what is waiting is written."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._stop.set()
            self._wake.set()
            writer.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # a database hiccup must not end the writer: retried
                _log.warning("audit entries not written yet, will retry: %s", exc)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        try:
            with self.store.transaction() as conn:
                self.store.append_audit(conn, entries)
        except Exception:
            if self._writer is not None:  # keep them for the next round, oldest first
                with self._lock:
                    self._pending[:0] = entries
            raise

    def entries(
        self,
        *,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first (this process's waiting ones included),
        of ``actor`` and ``action`` when given, from ``since`` (inclusive) to ``until``
        (exclusive)."""
        self.flush()
        rows = AuditRepository(self.store).entries(
            limit=limit, actor=actor, action=action, since=since, until=until
        )
        return [
            {
                "at": e.at.isoformat(timespec="seconds"),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "rows": e.rows,
            }
            for e in rows
        ]

    def actions(self) -> list[str]:
        """The actions the log has entries of (for a filter's choices)."""
        self.flush()
        return AuditRepository(self.store).actions()
