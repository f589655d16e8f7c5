"""conversions.attribute_due_at, credits split by product, platform_secrets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("conversions") as batch:
        batch.add_column(
            sa.Column(
                "attribute_due_at", hub.storage.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.create_index(batch.f("ix_conversions_attribute_due_at"), ["attribute_due_at"])
    with op.batch_alter_table("attribution_credits") as batch:
        batch.drop_index(batch.f("ix_attribution_credits_conversion_id_model_click_id"))
        batch.create_index(
            batch.f("ix_attribution_credits_conversion_id_model_click_id_product_id"),
            ["conversion_id", "model", "click_id", "product_id"],
            unique=True,
        )
    op.create_table(
        "platform_secrets",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", hub.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_platform_secrets_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_secrets")),
    )
    with op.batch_alter_table("platform_secrets") as batch:
        batch.create_index(
            batch.f("ix_platform_secrets_merchant_id_platform"),
            ["merchant_id", "platform"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("platform_secrets") as batch:
        batch.drop_index(batch.f("ix_platform_secrets_merchant_id_platform"))
    op.drop_table("platform_secrets")
    with op.batch_alter_table("attribution_credits") as batch:
        batch.drop_index(batch.f("ix_attribution_credits_conversion_id_model_click_id_product_id"))
        batch.create_index(
            batch.f("ix_attribution_credits_conversion_id_model_click_id"),
            ["conversion_id", "model", "click_id"],
            unique=True,
        )
    with op.batch_alter_table("conversions") as batch:
        batch.drop_index(batch.f("ix_conversions_attribute_due_at"))
        batch.drop_column("attribute_due_at")
