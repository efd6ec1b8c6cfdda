"""Schema 2: campaigns, their change log, runs, delivery records and responses.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portrait.store.migrations import set_schema_version

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "campaign_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("campaign", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_campaign_events_campaign", "campaign_events", ["campaign"])
    op.create_table(
        "campaign_runs",
        sa.Column("campaign", sa.String(64), primary_key=True),
        sa.Column("run", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("profile_version", sa.String(32), nullable=False),
        sa.Column("as_of", sa.String(10), nullable=True),
        sa.Column("audience_size", sa.Integer(), nullable=False),
        sa.Column("members", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("campaign", sa.String(64), primary_key=True),
        sa.Column("run", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("uid", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("grp", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("deliveries_state", "deliveries", ["campaign", "run", "state", "uid"])
    op.create_index("deliveries_cap", "deliveries", ["channel", "state", "sent_at"])
    op.create_table(
        "responses",
        sa.Column("campaign", sa.String(64), primary_key=True),
        sa.Column("uid", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("response", sa.String(16), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=True),
    )
    set_schema_version(2)


def downgrade() -> None:
    for table in ("responses", "deliveries", "campaign_runs", "campaign_events", "campaigns"):
        op.drop_table(table)
    set_schema_version(1)
