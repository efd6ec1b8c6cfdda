"""The metadata database: saved segments, their snapshots, uploaded ID lists, campaigns.

SQLAlchemy Core over SQLite (``meta/portrait.db``, the default) or PostgreSQL. Every change is
one transaction, so a failed command leaves the database as it was. Members are stored as
serialized Roaring bitmaps of dense user ids (portable bytes; dense ids are stable).

The tables below are the live schema; the Alembic revisions in ``store/migrations`` build it
(a test checks that the two agree), and :func:`open_database` upgrades an older database when
it opens it (see :mod:`portrait.store.schema`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    cast,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from portrait.errors import WorkspaceError
from portrait.store import schema

if TYPE_CHECKING:
    from portrait.store.campaigns import CampaignRepository

SCHEMA_VERSION = int(schema.HEAD_REVISION)
"""The ``portrait_meta.schema_version`` the newest revision writes (Portrait before Alembic
read only that)."""

metadata = MetaData()

meta_table = Table(
    "portrait_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

id_lists = Table(
    "id_lists",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("unmatched", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("members", LargeBinary, nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("mode", String(16), nullable=False),  # dynamic | static
    Column("rule", Text, nullable=False),  # the rule document as JSON
    Column("rule_text", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

snapshots = Table(
    "segment_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("segment", String(128), ForeignKey("segments.name", ondelete="CASCADE"), nullable=False),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    Column("profile_version", String(32), nullable=False),
    Column("as_of", String(10), nullable=True),
    Column("size", Integer, nullable=False),
    Column("population", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("members", LargeBinary, nullable=True),  # kept for the latest snapshots only
)


campaigns = Table(
    "campaigns",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("spec", Text, nullable=False),  # the CampaignSpec as JSON
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

campaign_events = Table(
    "campaign_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=True),
    Column("detail", Text, nullable=False, default=""),
)

campaign_runs = Table(
    "campaign_runs",
    metadata,
    Column("campaign", String(64), primary_key=True),
    Column("run", Integer, primary_key=True),
    Column("state", String(16), nullable=False),  # running | completed | cancelled | failed
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("profile_version", String(32), nullable=False),
    Column("as_of", String(10), nullable=True),
    Column("audience_size", Integer, nullable=False),
    Column("batch_size", Integer, nullable=False),  # fixed for the run: batches re-form alike
    Column("members", LargeBinary, nullable=False),  # the frozen audience (Roaring bitmap)
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("campaign", String(64), primary_key=True),
    Column("run", Integer, primary_key=True),
    Column("uid", Integer, primary_key=True),
    Column("user_id", String(256), nullable=False),
    Column("grp", String(64), nullable=False),  # a variant's name or "control"
    Column("channel", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("batch", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("deliveries_cap", "channel", "state", "sent_at", "uid"),  # covers the cap check
)

responses = Table(
    "responses",
    metadata,
    Column("campaign", String(64), primary_key=True),
    Column("uid", Integer, primary_key=True),
    Column("response", String(16), primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("run", Integer, nullable=False),
    Column("revenue", Float, nullable=True),
)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the secret part
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(128), nullable=False),  # an API key id, or the OS user for the CLI
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("rows", Integer, nullable=False),
)


privacy_ledger = Table(
    "privacy_ledger",
    metadata,
    Column("actor", String(128), primary_key=True),  # an API key id, a console user, an OS user
    Column("query", String(64), primary_key=True),  # SHA-256 of the query and its versions
    Column("day", String(10), nullable=False),  # the UTC day it was first answered
    Column("cost", Float, nullable=False),  # epsilon spent
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_privacy_ledger_actor_day", "actor", "day"),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SnapshotRow:
    id: int
    segment: str
    evaluated_at: dt.datetime
    profile_version: str
    as_of: str | None
    size: int
    population: int
    seconds: float


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
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


_GENERATION_SQL = "SELECT value FROM portrait_meta WHERE key = 'generation'"

# A group of audit entries in one statement: the rows travel as one JSON parameter and the
# database unpacks them. An executemany crosses into the driver once per row, and in a server
# each crossing lets the writer thread and the request thread trade the GIL (measured: a
# fifth of a worker's throughput). The timestamps are written as SQLAlchemy writes them.
_AUDIT_GROUP_SQL = {
    "sqlite": "INSERT INTO audit_log (at, actor, action, target, rows) SELECT "
    "json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
    "json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)",
    "postgresql": "INSERT INTO audit_log (at, actor, action, target, rows) SELECT "
    "(e ->> 0)::timestamptz, e ->> 1, e ->> 2, e ->> 3, (e ->> 4)::integer "
    "FROM json_array_elements(%s::json) AS e",
}
_AUDIT_TIME_FORMAT = {"sqlite": "%Y-%m-%d %H:%M:%S.%f", "postgresql": "%Y-%m-%dT%H:%M:%S.%f%z"}
GENERATION_MEMO = 0.005  # seconds


class MetadataStore:
    """Reads and writes segments, snapshots and ID lists."""

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
        """A counter bumped by every change of segments or ID lists (cache key)."""
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

    def append_audit(self, conn: Connection, entries: list[dict[str, Any]]) -> None:
        """Append audit entries (``at`` an aware UTC time, ``actor``, ``action``, ``target``,
        ``rows``) in their order, in one statement."""
        dialect = conn.dialect.name
        if dialect not in _AUDIT_GROUP_SQL or len(entries) == 1:
            conn.execute(audit_log.insert(), entries)
            return
        at = _AUDIT_TIME_FORMAT[dialect]
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
        conn.exec_driver_sql(_AUDIT_GROUP_SQL[dialect], (json.dumps(rows),))

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

    # -- privacy ledger ---------------------------------------------------------------
    def privacy_spent(self, conn: Connection, actor: str, day: str) -> float:
        total = conn.execute(
            select(func.coalesce(func.sum(privacy_ledger.c.cost), 0.0)).where(
                privacy_ledger.c.actor == actor, privacy_ledger.c.day == day
            )
        ).scalar_one()
        return float(total)

    def privacy_charged(self, conn: Connection, actor: str, query: str) -> bool:
        found = conn.execute(
            select(privacy_ledger.c.cost).where(
                privacy_ledger.c.actor == actor, privacy_ledger.c.query == query
            )
        ).first()
        return found is not None

    def charge_privacy(
        self, conn: Connection, actor: str, query: str, day: str, cost: float
    ) -> None:
        conn.execute(
            privacy_ledger.insert().values(actor=actor, query=query, day=day, cost=cost, at=_now())
        )

    # -- ID lists -------------------------------------------------------------------
    def id_list(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(id_lists).where(id_lists.c.name == name)).mappings().first()
        return dict(row) if row else None

    def id_list_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(id_lists.c.name).order_by(id_lists.c.name)).scalars())

    def save_id_list(self, conn: Connection, name: str, **values: Any) -> None:
        conn.execute(id_lists.delete().where(id_lists.c.name == name))
        conn.execute(id_lists.insert().values(name=name, created_at=_now(), **values))

    def delete_id_list(self, conn: Connection, name: str) -> None:
        conn.execute(id_lists.delete().where(id_lists.c.name == name))

    # -- segments -------------------------------------------------------------------
    def segment(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(segments).where(segments.c.name == name)).mappings().first()
        return dict(row) if row else None

    def segments(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(segments).order_by(segments.c.name)).mappings().all()
        return [dict(r) for r in rows]

    def insert_segment(self, conn: Connection, **values: Any) -> None:
        now = _now()
        conn.execute(segments.insert().values(created_at=now, updated_at=now, **values))

    def update_segment(self, conn: Connection, name: str, **values: Any) -> None:
        conn.execute(
            segments.update().where(segments.c.name == name).values(updated_at=_now(), **values)
        )

    def delete_segment(self, conn: Connection, name: str) -> None:
        conn.execute(snapshots.delete().where(snapshots.c.segment == name))
        conn.execute(segments.delete().where(segments.c.name == name))

    # -- snapshots ------------------------------------------------------------------
    def add_snapshot(
        self, conn: Connection, segment: str, members: bytes, keep_members: int, **values: Any
    ) -> int:
        """Record an evaluation; members are kept for the newest ``keep_members`` only."""
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
        query = (
            select(snapshots)
            .where(snapshots.c.segment == segment, snapshots.c.members.is_not(None))
            .order_by(snapshots.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

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
        from portrait.store.campaigns import CampaignRepository  # it imports this module

        return CampaignRepository(self)

    def history(self, segment: str) -> list[SnapshotRow]:
        columns = [c for c in snapshots.c if c.name != "members"]
        query = select(*columns).where(snapshots.c.segment == segment).order_by(snapshots.c.id)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:  # SQLite returns naive datetimes; they were written in UTC
            if row["evaluated_at"].tzinfo is None:
                row["evaluated_at"] = row["evaluated_at"].replace(tzinfo=dt.UTC)
        return [SnapshotRow(**row) for row in rows]
