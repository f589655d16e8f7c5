"""share_targets.enqueued_at: when the due scan last sent a target to a worker

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("share_targets") as batch:
        batch.add_column(
            sa.Column("enqueued_at", hub.storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("share_targets") as batch:
        batch.drop_column("enqueued_at")
