"""Opening the metadata database: the URL (SQLite in the workspace by default, or
PostgreSQL), SQLite's connection pragmas, and errors that name the setting with the password
hidden. Opening upgrades the schema (:mod:`portrait.store.schema`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from portrait.errors import WorkspaceError
from portrait.store import schema


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # the wait first: switching to WAL needs a lock too, and another process may hold it
    cursor.execute(f"PRAGMA busy_timeout={schema.WRITE_WAIT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def database_url(url: str, meta_dir: Path) -> URL:
    """The URL to connect to: SQLite in ``meta_dir`` when empty; ``postgres://`` and
    ``postgresql://`` (the forms other tools print) mean psycopg 3, the driver Portrait ships
    with, rather than SQLAlchemy's default psycopg2."""
    parsed = make_url(url or f"sqlite:///{meta_dir / 'portrait.db'}")
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def open_database(url: str, meta_dir: Path) -> Engine:
    """The metadata engine for ``url`` (empty: SQLite in ``meta_dir``), upgraded to the newest
    schema. Every failure is a :class:`WorkspaceError` naming the setting."""
    try:
        target = database_url(url, meta_dir)
    except (ArgumentError, ValueError) as exc:
        raise WorkspaceError(
            f"cannot read the metadata database URL {_mask(url)!r}: {exc}",
            where=schema.URL_NAMES,
            hint="a URL such as postgresql+psycopg://user@host:5432/db, or empty for SQLite",
        ) from None
    shown = target.render_as_string(hide_password=True)
    connect_args: dict[str, Any] = {}
    if target.get_backend_name() == "postgresql" and "connect_timeout" not in target.query:
        connect_args["connect_timeout"] = 10  # an unreachable host fails instead of hanging
    if target.get_backend_name() == "sqlite":  # the driver's own wait, before any pragma
        connect_args["timeout"] = schema.WRITE_WAIT_MS / 1000
    try:
        engine = create_engine(target, connect_args=connect_args)
    except NoSuchModuleError:
        raise WorkspaceError(
            f"unknown kind of database '{target.drivername}' in the metadata database URL",
            where=schema.URL_NAMES,
            hint="Portrait keeps its metadata in SQLite (sqlite:///path/portrait.db, or leave "
            "the setting empty) or PostgreSQL (postgresql+psycopg://user@host:5432/db)",
        ) from None
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise WorkspaceError(
            f"cannot open the metadata database {shown}: {_first_line(exc)}",
            where=schema.URL_NAMES,
            hint="for PostgreSQL install the extra (pip install 'portrait[postgres]') and use "
            "postgresql+psycopg://user@host:5432/db",
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        schema.upgrade(engine)
    except WorkspaceError:
        engine.dispose()
        raise
    except (SQLAlchemyError, OSError) as exc:  # the driver's words, without the traceback
        engine.dispose()
        raise WorkspaceError(
            f"cannot open the metadata database {shown}: {_first_line(exc)}",
            where=schema.URL_NAMES,
            hint="check that the server is running and reachable, and the URL's user, "
            "password and database name; a schema upgrade that fails leaves the database as "
            "it was",
        ) from None
    return engine


def _mask(url: str) -> str:
    """The URL with its password starred, for a URL too broken for SQLAlchemy to do that."""
    return re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
