"""Schema 3: a run's batch size is fixed when it starts; deliveries lose the index on
(campaign, run, state, uid) and the cap index covers uid.

Revision ID: 0003
Revises: 0002

Batches walk the primary key (campaign, run, uid), so ``deliveries_state`` only cost writes;
``deliveries_cap`` with ``uid`` answers the frequency-cap check from the index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portrait.store.migrations import set_schema_version

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # runs recorded before the column existed were sent in batches of 1000 (the default then);
    # the server default only fills them in: every new run writes its own size
    with op.batch_alter_table("campaign_runs") as batch:
        batch.add_column(
            sa.Column("batch_size", sa.Integer(), nullable=False, server_default="1000")
        )
    with op.batch_alter_table("campaign_runs") as batch:
        batch.alter_column("batch_size", existing_type=sa.Integer(), server_default=None)
    # IF EXISTS, as the hand-written upgrade this replaces did: databases it left half-built
    # may lack either index
    op.drop_index("deliveries_state", table_name="deliveries", if_exists=True)
    op.drop_index("deliveries_cap", table_name="deliveries", if_exists=True)
    op.create_index("deliveries_cap", "deliveries", ["channel", "state", "sent_at", "uid"])
    set_schema_version(3)


def downgrade() -> None:
    op.drop_index("deliveries_cap", table_name="deliveries")
    op.create_index("deliveries_cap", "deliveries", ["channel", "state", "sent_at"])
    op.create_index("deliveries_state", "deliveries", ["campaign", "run", "state", "uid"])
    with op.batch_alter_table("campaign_runs") as batch:
        batch.drop_column("batch_size")
    set_schema_version(2)
