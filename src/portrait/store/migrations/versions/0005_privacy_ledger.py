"""Schema 5: the privacy ledger (what each caller below exact numbers spent, per query).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portrait.store.migrations import set_schema_version

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_ledger",
        sa.Column("actor", sa.String(128), primary_key=True),
        sa.Column("query", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_privacy_ledger_actor_day", "privacy_ledger", ["actor", "day"])
    set_schema_version(5)


def downgrade() -> None:
    op.drop_table("privacy_ledger")
    set_schema_version(4)
