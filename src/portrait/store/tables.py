"""The tables of the metadata database, every one in this module: the live schema.

The Alembic revisions in ``store/migrations`` spell their tables out rather than import these,
and build exactly this schema (``tests/functional/test_metadata_backends.py`` fails when the
two disagree): a change here needs a new revision. The queries on them live in the
repositories beside this module, one per aggregate (see :mod:`portrait.store.metadata`).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

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

console_users = Table(
    "console_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters and salt
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("failures", Integer, nullable=False, default=0),  # failed sign-ins in a row
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token
    Column(
        "user", String(64), ForeignKey("console_users.name", ondelete="CASCADE"), nullable=False
    ),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_console_sessions_user", "user"),
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
