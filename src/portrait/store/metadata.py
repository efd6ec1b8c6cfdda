"""The metadata database: saved segments, their snapshots, uploaded ID lists, campaigns.

SQLAlchemy Core over SQLite (``meta/portrait.db``, the default) or PostgreSQL. Every change is
one transaction, so a failed command leaves the database as it was. Members are stored as
serialized Roaring bitmaps of dense user ids (portable bytes; dense ids are stable).

The schema carries a version in ``portrait_meta``; :func:`migrate` brings an older database up
to date when it is opened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from portrait.errors import WorkspaceError

SCHEMA_VERSION = 4  # 2: campaigns, runs, …; 3: runs.batch_size; 4: API keys, audit log

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


def open_database(url: str, meta_dir: Path) -> Engine:
    """The metadata engine for ``url`` (empty: SQLite in ``meta_dir``), migrated."""
    target = url or f"sqlite:///{meta_dir / 'portrait.db'}"
    try:
        engine = create_engine(target)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise WorkspaceError(
            f"cannot open the metadata database: {exc}",
            where="store.metadata_url",
            hint="for PostgreSQL install the extra: pip install 'portrait[postgres]'",
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        raise WorkspaceError(
            f"cannot open the metadata database: {str(exc).splitlines()[0]}",
            where="store.metadata_url",
        ) from exc
    return engine


def migrate(engine: Engine) -> None:
    """Create the tables of a new database; upgrade an older schema (1 → 2 and 3 → 4: new
    tables, made by ``create_all``; 2 → 3: the runs' batch size)."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        row = conn.execute(
            select(meta_table.c.value).where(meta_table.c.key == "schema_version")
        ).first()
        if row is None:
            conn.execute(
                meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
            )
        elif int(row[0]) < SCHEMA_VERSION:  # 1 → 2 added tables: create_all made them
            if int(row[0]) == 2:
                conn.execute(
                    text(
                        "ALTER TABLE campaign_runs ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 1000"
                    )
                )
                # batches walk the primary key (campaign, run, uid); this index only cost writes
                conn.execute(text("DROP INDEX IF EXISTS deliveries_state"))
                conn.execute(text("DROP INDEX IF EXISTS deliveries_cap"))
                conn.execute(
                    text("CREATE INDEX deliveries_cap ON deliveries (channel, state, sent_at, uid)")
                )
            conn.execute(
                meta_table.update()
                .where(meta_table.c.key == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise WorkspaceError(
                f"the metadata database has schema version {row[0]}; this Portrait knows "
                f"{SCHEMA_VERSION}",
                hint="upgrade Portrait",
            )


class MetadataStore:
    """Reads and writes segments, snapshots and ID lists."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self.engine.begin() as conn:
            yield conn

    def generation(self) -> int:
        """A counter bumped by every change of segments or ID lists (cache key)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "generation")
            ).first()
        return int(row[0]) if row else 0

    def bump(self, conn: Connection) -> None:
        row = conn.execute(
            select(meta_table.c.value).where(meta_table.c.key == "generation")
        ).first()
        if row is None:
            conn.execute(meta_table.insert().values(key="generation", value="1"))
        else:
            conn.execute(
                meta_table.update()
                .where(meta_table.c.key == "generation")
                .values(value=str(int(row[0]) + 1))
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
    def campaign_exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(campaigns.c.name).where(campaigns.c.name == name)).first()
                is not None
            )

    def campaign_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(campaigns.c.name).order_by(campaigns.c.name)).scalars())

    def campaign_members(self, name: str, outcome: str) -> list[int]:
        """Dense ids of a campaign's users (all runs) with an outcome (see
        ``model.rules.CampaignRef``)."""
        if outcome in ("delivered", "opened", "clicked", "converted"):
            query = select(responses.c.uid).where(
                responses.c.campaign == name, responses.c.response == outcome
            )
        elif outcome in ("sent", "not_converted"):
            query = select(deliveries.c.uid).where(
                deliveries.c.campaign == name, deliveries.c.state == "sent"
            )
        elif outcome == "control":
            query = select(deliveries.c.uid).where(
                deliveries.c.campaign == name, deliveries.c.grp == "control"
            )
        elif outcome == "targeted":
            query = select(deliveries.c.uid).where(deliveries.c.campaign == name)
        else:
            raise ValueError(f"unknown campaign outcome {outcome!r}")
        with self.engine.connect() as conn:
            found = {int(u) for u in conn.execute(query).scalars()}
            if outcome == "not_converted":
                converted = conn.execute(
                    select(responses.c.uid).where(
                        responses.c.campaign == name, responses.c.response == "converted"
                    )
                ).scalars()
                found -= {int(u) for u in converted}
        return sorted(found)

    def history(self, segment: str) -> list[SnapshotRow]:
        columns = [c for c in snapshots.c if c.name != "members"]
        query = select(*columns).where(snapshots.c.segment == segment).order_by(snapshots.c.id)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:  # SQLite returns naive datetimes; they were written in UTC
            if row["evaluated_at"].tzinfo is None:
                row["evaluated_at"] = row["evaluated_at"].replace(tzinfo=dt.UTC)
        return [SnapshotRow(**row) for row in rows]
