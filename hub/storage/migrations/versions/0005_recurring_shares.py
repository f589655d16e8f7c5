"""shares.rrule, shares.series_id and shares.recycle_days: recurring and evergreen shares

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("rrule", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column(
                "series_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.add_column(sa.Column("recycle_days", sa.Float(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_shares_series_id_shares"), "shares", ["series_id"], ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(batch.f("ix_shares_series_id"), ["series_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shares") as batch:
        batch.drop_index(batch.f("ix_shares_series_id"))
        batch.drop_constraint(batch.f("fk_shares_series_id_shares"), type_="foreignkey")
        batch.drop_column("recycle_days")
        batch.drop_column("series_id")
        batch.drop_column("rrule")
