"""credit_days, credit_product_days, credit_link_days: credits per local day, summed

Reports read credited conversions and revenue from these instead of summing
``attribution_credits`` row by row. Each row holds, for one merchant, model, local day in the
merchant's zone and currency, the number of credits it covers and the sums of their ``weight``
and ``revenue_minor`` (the same double-precision type as the credits' columns):
``credit_days`` per channel kind, channel account and campaign, ``credit_product_days`` per
product sold, ``credit_link_days`` per link (a table each: products and links together
would be nearly as many rows as credits). A key the credit leaves empty is stored as ``''``
(channel kind, currency) or ``0`` (ids), so that the key can be the primary key.

Kept on PostgreSQL only, which knows time zones, like ``click_days``: statement-level
triggers on ``attribution_credits`` over the transition tables (one grouped statement per
table, new rows taken in key order), in the transaction that writes the credits, whoever
writes (the attribution job replacing a conversion's credits, a refund's update, a cascade
from a deleted conversion, a currency copied from the conversion). A row whose credits all
went is deleted. A trigger on ``merchants`` rebuilds a merchant's rows when its zone changes.
The upgrade fills the tables from the credits already stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# table → its key columns after merchant, timezone, model and day, as stored from a credit
# ``c``; the sums are the same for both.
_KEYS = {
    "credit_days": {
        "channel_kind": "coalesce(c.channel_kind, '')",
        "channel_account_id": "coalesce(c.channel_account_id, 0)",
        "campaign_id": "coalesce(c.campaign_id, 0)",
        "currency": "coalesce(c.currency, '')",
    },
    "credit_product_days": {
        "product_id": "coalesce(c.product_id, 0)",
        "currency": "coalesce(c.currency, '')",
    },
    "credit_link_days": {
        "link_id": "coalesce(c.link_id, 0)",
        "currency": "coalesce(c.currency, '')",
    },
}
_DAY = "timezone(m.timezone, c.occurred_at)::date"
# Carried by the primary key's index on PostgreSQL: reports read the rollups from it alone.
_SUMMED = ["weight", "revenue_minor"]


def _columns(table: str) -> str:
    return ", ".join(["merchant_id", "timezone", "model", "day", *_KEYS[table]])


def _qualified(table: str) -> str:
    return ", ".join(f"r.{k}" for k in _columns(table).split(", "))


def _values(table: str, named: bool = False) -> str:
    values = ["c.merchant_id", "m.timezone", "c.model", _DAY, *_KEYS[table].values()]
    if named:
        values = [f"{v} AS {k}" for v, k in zip(values, _columns(table).split(", "), strict=True)]
    return ", ".join(values)


def _group(table: str) -> str:
    return ", ".join(str(i + 1) for i in range(4 + len(_KEYS[table])))


def _take(table: str) -> str:
    """Subtract the old credits of a statement; delete rows left with none."""
    match = " AND ".join(f"r.{k} = gone.{k}" for k in _columns(table).split(", "))
    return f"""
        WITH gone AS (
            SELECT {_values(table, named=True)}, count(*) AS credits, sum(c.weight) AS weight,
                   sum(c.revenue_minor) AS revenue_minor
            FROM old_credits c JOIN merchants m ON m.id = c.merchant_id
            GROUP BY {_group(table)}
        )
        UPDATE {table} r
        SET credits = r.credits - gone.credits, weight = r.weight - gone.weight,
            revenue_minor = r.revenue_minor - gone.revenue_minor
        FROM gone WHERE {match};
        DELETE FROM {table} r WHERE r.credits <= 0 AND ({_qualified(table)}) IN (
            SELECT {_values(table)} FROM old_credits c JOIN merchants m ON m.id = c.merchant_id);"""


def _add(table: str) -> str:
    return f"""
        INSERT INTO {table} AS r ({_columns(table)}, credits, weight, revenue_minor)
        SELECT {_values(table)}, count(*), sum(c.weight), sum(c.revenue_minor)
        FROM new_credits c JOIN merchants m ON m.id = c.merchant_id
        GROUP BY {_group(table)} ORDER BY {_group(table)}
        ON CONFLICT ({_columns(table)}) DO UPDATE
        SET credits = r.credits + excluded.credits, weight = r.weight + excluded.weight,
            revenue_minor = r.revenue_minor + excluded.revenue_minor;"""


def _fill(table: str, where: str) -> str:
    """A merchant's rows (or every merchant's) from its credits."""
    return (
        f"INSERT INTO {table} ({_columns(table)}, credits, weight, revenue_minor) "
        f"SELECT {_values(table)}, count(*), sum(c.weight), sum(c.revenue_minor) "
        f"FROM attribution_credits c JOIN merchants m ON m.id = c.merchant_id {where} "
        f"GROUP BY {_group(table)}"
    )


_PG_FUNCTION = f"""
CREATE FUNCTION credit_days_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        {"".join(_take(table) for table in _KEYS)}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {"".join(_add(table) for table in _KEYS)}
    END IF;
    RETURN NULL;
END
$$
"""

_PG_REZONE = f"""
CREATE FUNCTION credit_days_rezone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {"".join(f"DELETE FROM {table} WHERE merchant_id = NEW.id; " for table in _KEYS)}
    {"".join(_fill(table, "WHERE c.merchant_id = NEW.id") + "; " for table in _KEYS)}
    RETURN NULL;
END
$$
"""

_PG_TRIGGERS = [
    "CREATE TRIGGER credit_days_insert AFTER INSERT ON attribution_credits "
    "REFERENCING NEW TABLE AS new_credits FOR EACH STATEMENT EXECUTE FUNCTION credit_days_keep()",
    "CREATE TRIGGER credit_days_delete AFTER DELETE ON attribution_credits "
    "REFERENCING OLD TABLE AS old_credits FOR EACH STATEMENT EXECUTE FUNCTION credit_days_keep()",
    "CREATE TRIGGER credit_days_update AFTER UPDATE ON attribution_credits "
    "REFERENCING OLD TABLE AS old_credits NEW TABLE AS new_credits "
    "FOR EACH STATEMENT EXECUTE FUNCTION credit_days_keep()",
    "CREATE TRIGGER credit_days_rezone AFTER UPDATE OF timezone ON merchants FOR EACH ROW "
    "WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION credit_days_rezone()",
]


def _sums() -> list[sa.Column[object]]:
    return [
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("revenue_minor", sa.Float(), nullable=False),
    ]


def _head() -> list[sa.Column[object]]:
    return [
        sa.Column("merchant_id", _BIG, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "credit_days",
        *_head(),
        sa.Column("channel_kind", sa.String(length=40), nullable=False),
        sa.Column("channel_account_id", _BIG, nullable=False),
        sa.Column("campaign_id", _BIG, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint(
            *_columns("credit_days").split(", "),
            name=op.f("pk_credit_days"),
            postgresql_include=_SUMMED,
        ),
    )
    op.create_table(
        "credit_product_days",
        *_head(),
        sa.Column("product_id", _BIG, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint(
            *_columns("credit_product_days").split(", "),
            name=op.f("pk_credit_product_days"),
            postgresql_include=_SUMMED,
        ),
    )
    op.create_table(
        "credit_link_days",
        *_head(),
        sa.Column("link_id", _BIG, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint(
            *_columns("credit_link_days").split(", "),
            name=op.f("pk_credit_link_days"),
            postgresql_include=_SUMMED,
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in _KEYS:
            op.execute(_fill(table, ""))
        op.execute(_PG_FUNCTION)
        op.execute(_PG_REZONE)
        for statement in _PG_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("credit_days_insert", "credit_days_delete", "credit_days_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON attribution_credits")
        op.execute("DROP TRIGGER IF EXISTS credit_days_rezone ON merchants")
        op.execute("DROP FUNCTION IF EXISTS credit_days_rezone()")
        op.execute("DROP FUNCTION IF EXISTS credit_days_keep()")
    for table in reversed(_KEYS):
        op.drop_table(table)
