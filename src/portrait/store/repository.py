"""What every repository of the metadata database shares: where its queries run.

A repository made with the store alone reads on a connection of its own and writes in a
transaction of its own. ``with repo.transaction() as tx`` gives one bound to a single
transaction, so several writes commit together or not at all; ``repo.snapshot()`` one for
reads only, all on one connection. A repository made with a connection (``Repo(store, conn)``)
works inside the caller's transaction, e.g. one that also counts the change
(:meth:`MetadataStore.bump <portrait.store.metadata.MetadataStore.bump>`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, Self

from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql import ClauseElement, Executable


class Database(Protocol):
    """What repositories need of the metadata database (:class:`MetadataStore
    <portrait.store.metadata.MetadataStore>` is one): its engine, a transaction, and counting
    a change. A protocol, so the store that makes repositories and the repositories do not
    import each other."""

    @property
    def engine(self) -> Engine: ...

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def bump(self, conn: Connection) -> None: ...


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else utc(value)


class Repository:
    """The queries of one aggregate over the metadata database (see the module docstring).
    Subclasses keep this constructor: :meth:`transaction` and :meth:`snapshot` make their
    bound copies with it."""

    def __init__(self, store: Database, conn: Connection | None = None, *, writable: bool = True):
        self.store = store
        self._conn = conn  # set: bound to the caller's transaction (or snapshot)
        self._writable = writable

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """A repository whose every call runs in one transaction: committed when the block
        ends, rolled back on any error. Inside a transaction already: this same one."""
        if self._conn is not None:
            if not self._writable:
                raise RuntimeError("a transaction inside a snapshot")
            yield self
            return
        with self.store.transaction() as conn:
            yield type(self)(self.store, conn)

    @contextmanager
    def snapshot(self) -> Iterator[Self]:
        """A repository for reads only, all on one connection: a report read from several
        tables sees one state of them (SQLite: one read transaction)."""
        if self._conn is not None:
            yield self
            return
        with self.store.engine.connect() as conn:
            yield type(self)(self.store, conn, writable=False)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self.store.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._conn is not None:
            if not self._writable:  # it would be rolled back when the snapshot ends
                raise RuntimeError("a write inside a snapshot")
            yield self._conn
            return
        with self.store.transaction() as conn:
            yield conn

    def _all(self, query: Executable) -> Sequence[Any]:  # rows, as tuples
        with self._read() as conn:
            return conn.execute(query).all()

    def _raw(self, query: ClauseElement) -> list[tuple[Any, ...]]:
        """Rows as the database driver gives them, without SQLAlchemy's per-row processing:
        for reading a million rows of plain numbers and text (the query's columns must need
        no conversion: no DateTime, no JSON)."""
        with self._read() as conn:
            compiled: Any = query.compile(dialect=conn.dialect)  # a SQLCompiler
            params: Any = compiled.params
            if compiled.positional:
                params = tuple(compiled.params[k] for k in compiled.positiontup or ())
            cursor = conn.connection.cursor()
            try:
                cursor.execute(str(compiled), params)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    def _mappings(self, query: Executable) -> Sequence[RowMapping]:
        with self._read() as conn:
            return conn.execute(query).mappings().all()

    def _first(self, query: Executable) -> RowMapping | None:
        with self._read() as conn:
            return conn.execute(query).mappings().first()

    def _scalar(self, query: Executable) -> Any:
        with self._read() as conn:
            return conn.execute(query).scalar()
