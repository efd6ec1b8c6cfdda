"""The metadata database's schema: which revision a database is at, and bringing it to the
newest one with the Alembic revisions in :mod:`portrait.store.migrations`.

:func:`upgrade` runs whenever a database is opened. It costs one query when the database is
already at :data:`HEAD_REVISION`; otherwise it takes a lock (SQLite: the write lock;
PostgreSQL: an advisory lock), so that processes opening a database at the same time migrate
it once, and runs every missing revision in one transaction.

Databases from before Alembic carry only ``portrait_meta.schema_version`` = N (1 to 4); they are
stamped at revision N (``"000N"``) and upgraded from there. Every revision keeps that row equal
to its number, so Portrait releases from before Alembic still refuse a newer database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from portrait.errors import WorkspaceError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

URL_NAMES = "store.metadata_url (environment: PORTRAIT_DATABASE_URL)"
"""How errors name the setting, so people find it whichever name they know it by."""
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0006"
"""The newest revision in ``migrations/versions`` (a test checks the two agree)."""

_PG_LOCK = 0x706F72747261  # "portra": the advisory lock key migrations serialize on
_LEGACY_TABLES = ("portrait_meta", "segments", "id_lists", "campaigns")
_ALEMBIC = threading.Lock()  # Alembic keeps its running context in module globals


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its Alembic revision (None: none recorded) and the
    ``schema_version`` row of Portrait before Alembic (None: no such row)."""

    revision: str | None
    legacy_version: int | None


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for the packaged migrations, no ``alembic.ini`` needed;
    ``connection`` is the one the migrations run on (see ``migrations/env.py``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def revisions() -> tuple[str, ...]:
    """Every revision Portrait knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return tuple(reversed([r.revision for r in script.walk_revisions()]))


def read_state(conn: Connection) -> SchemaState:
    inspector = inspect(conn)
    revision = None
    if inspector.has_table("alembic_version"):
        found = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        if len(found) > 1:
            raise WorkspaceError(
                f"the metadata database records several schema revisions ({', '.join(found)})",
                where=URL_NAMES,
                hint="Portrait's migrations have no branches; was this database migrated by "
                "something else?",
            )
        revision = found[0] if found else None
    legacy = None
    if inspector.has_table("portrait_meta"):
        value = conn.execute(
            text("SELECT value FROM portrait_meta WHERE key = 'schema_version'")
        ).scalar()
        legacy = int(value) if value is not None and str(value).isdigit() else None
    return SchemaState(revision, legacy)


def _too_new(found: str) -> WorkspaceError:
    return WorkspaceError(
        f"the metadata database is at schema revision {found}, which this Portrait does not "
        f"know (its newest is {HEAD_REVISION}): a newer Portrait has upgraded it",
        where=URL_NAMES,
        hint="upgrade Portrait (pip install --upgrade portrait) to use this database",
    )


def upgrade(engine: Engine) -> str | None:
    """Bring the database to :data:`HEAD_REVISION`; returns the revision it was at before
    (None: it was empty), or :data:`HEAD_REVISION` when there was nothing to do.

    Raises :class:`WorkspaceError` for a database a newer Portrait has upgraded, or one that
    holds Portrait's tables without any schema version."""
    with engine.connect() as conn:
        state = read_state(conn)
    if state.revision == HEAD_REVISION:
        return HEAD_REVISION
    import alembic.command  # noqa: F401  (imported before the lock: seconds on a busy machine)

    with locked(engine) as conn:
        state = read_state(conn)  # another process may have migrated while we waited
        before = _plan(conn, state)
        if before != HEAD_REVISION:
            _run_revisions(conn, state, before)
    return before


WRITE_WAIT_MS = 10_000
"""How long an SQLite connection waits for another writer (its ``busy_timeout``)."""
MIGRATION_WAIT_MS = 120_000
"""How long it waits for another process's migration to finish (revisions take longer)."""


@contextmanager
def locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock (SQLite: the write lock;
    PostgreSQL: an advisory lock), committed when the block ends, rolled back on an error.
    Schema changes made through it are all or nothing on both backends."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # Another process migrating holds the write lock for as long as its revisions
            # take: wait for it longer than for an ordinary write.
            conn.exec_driver_sql(f"PRAGMA busy_timeout={MIGRATION_WAIT_MS}")
            # pysqlite begins transactions lazily and not for DDL: begin one, and take the write
            # lock now rather than fail to upgrade a read lock half-way
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        yield conn
        conn.commit()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA busy_timeout={WRITE_WAIT_MS}")  # back in the pool


def _run_revisions(conn: Connection, state: SchemaState, before: str | None) -> None:
    from alembic import command
    from alembic.util import CommandError

    try:
        with _ALEMBIC:
            if state.revision is None and before is not None:
                command.stamp(alembic_config(conn), before)
                _repair_legacy(conn, state.legacy_version)
            command.upgrade(alembic_config(conn), "head")
    except CommandError as exc:  # a broken installation rather than a bad database
        raise WorkspaceError(
            f"cannot upgrade the metadata database from revision {before}: {exc}",
            where=URL_NAMES,
            hint=f"reinstall Portrait; its migrations are in {MIGRATIONS}",
        ) from exc


def _plan(conn: Connection, state: SchemaState) -> str | None:
    """The revision the database is at, recorded or derived from ``schema_version``."""
    if state.revision is not None:
        if state.revision not in revisions():
            raise _too_new(state.revision)
        return state.revision
    if state.legacy_version is not None:
        if state.legacy_version > int(HEAD_REVISION):
            raise _too_new(f"{state.legacy_version} (schema_version)")
        return f"{state.legacy_version:04d}"
    present = [t for t in _LEGACY_TABLES if inspect(conn).has_table(t)]
    if present:
        raise WorkspaceError(
            f"the metadata database has Portrait tables ({', '.join(present)}) but no schema "
            "version, so Portrait cannot tell how to upgrade it",
            where=URL_NAMES,
            hint="point store.metadata_url at an empty database, or restore this one from a backup",
        )
    return None


def _repair_legacy(conn: Connection, version: int | None) -> None:
    """Schema 3 written before the cap index gained ``uid`` kept the narrower index (the
    hand-written upgrade only rebuilt it when coming from 2)."""
    if version != 3:
        return
    indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("deliveries")}
    if indexes.get("deliveries_cap") == ["channel", "state", "sent_at"]:
        conn.execute(text("DROP INDEX deliveries_cap"))
        conn.execute(
            text("CREATE INDEX deliveries_cap ON deliveries (channel, state, sent_at, uid)")
        )


def describe(engine: Engine) -> dict[str, Any]:
    """The backend, the database (password hidden), its revision and the newest one."""
    with engine.connect() as conn:
        state = read_state(conn)
    return {
        "backend": engine.dialect.name,
        "database": engine.url.render_as_string(hide_password=True),
        "revision": state.revision,
        "head": HEAD_REVISION,
        "up_to_date": state.revision == HEAD_REVISION,
    }
