"""click_weeks, credit_weeks, credit_product_weeks, credit_link_weeks: day rollups per week

A report by product or by link over a quarter summed about 150,000 day rows (2,000 products
on 90 days) for credits and as many for clicks; by channel, account or campaign, as many
again for seven models side by side. The same rows per local week (Monday to
Sunday, keyed by the week's Monday in the ``day`` column) are a seventh as many: reports read
a period's whole weeks from these tables and only the days before and after them from the
day tables.

Each table is kept from its day table (``click_days``, ``credit_days``,
``credit_product_days``, ``credit_link_days``) by statement-level triggers over the
transition tables: the changed day rows' net deltas per week are applied by one ``INSERT ...
GROUP BY key ORDER BY key ON CONFLICT DO UPDATE`` (rows taken in key order, as the day
rollups are since 0008), and weeks left with no clicks or credits are deleted. Whatever
changes a day row — a click or a credit written, moved or deleted, a cascade from a deleted
link, a merchant's zone change that rebuilds its days — reaches its week in the same
transaction. ``TRUNCATE`` of a day table empties its week table. PostgreSQL only, like the
day tables they are kept from; the upgrade
fills them from the day rows already stored.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# week table → its day table, the key columns (``day`` holds the week's Monday) and the
# summed columns (the first counts the rows a rollup row covers).
_WEEKS = {
    "click_weeks": (
        "click_days",
        ["merchant_id", "timezone", "day", "link_id"],
        ["clicks", "unique_clicks"],
    ),
    "credit_weeks": (
        "credit_days",
        ["merchant_id", "timezone", "model", "day", "channel_kind", "channel_account_id",
         "campaign_id", "currency"],
        ["credits", "weight", "revenue_minor"],
    ),  # fmt: skip
    "credit_product_weeks": (
        "credit_product_days",
        ["merchant_id", "timezone", "model", "day", "product_id", "currency"],
        ["credits", "weight", "revenue_minor"],
    ),
    "credit_link_weeks": (
        "credit_link_days",
        ["merchant_id", "timezone", "model", "day", "link_id", "currency"],
        ["credits", "weight", "revenue_minor"],
    ),
}
_MONDAY = "date_trunc('week', d.day)::date"


def _week_keys(keys: list[str]) -> str:
    return ", ".join(_MONDAY if k == "day" else f"d.{k}" for k in keys)


def _rows(source: str, keys: list[str], sums: list[str], sign: str) -> str:
    return f"SELECT {', '.join(keys)}, {', '.join(f'{sign}{s} AS {s}' for s in sums)} FROM {source}"


def _apply(table: str, sources: list[tuple[str, str]]) -> str:
    """Add the rows of ``sources`` (transition table, sign) to their weeks, in key order."""
    _, keys, sums = _WEEKS[table]
    rows = " UNION ALL ".join(_rows(source, keys, sums, sign) for source, sign in sources)
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return f"""
        INSERT INTO {table} AS r ({", ".join(keys + sums)})
        SELECT {_week_keys(keys)}, {", ".join(f"sum(d.{s})" for s in sums)}
        FROM ({rows}) d
        GROUP BY {group}
        HAVING {" OR ".join(f"sum(d.{s}) <> 0" for s in sums)}
        ORDER BY {group}
        ON CONFLICT ({", ".join(keys)}) DO UPDATE
        SET {", ".join(f"{s} = r.{s} + excluded.{s}" for s in sums)};"""


def _prune(table: str) -> str:
    """Delete the weeks of the old rows that have nothing left."""
    _, keys, sums = _WEEKS[table]
    return f"""
        DELETE FROM {table} r WHERE r.{sums[0]} <= 0
        AND ({", ".join(f"r.{k}" for k in keys)}) IN (SELECT {_week_keys(keys)} FROM old_rows d);"""


def _function(table: str) -> str:
    return f"""
CREATE FUNCTION {table}_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_apply(table, [("new_rows", "")])}
    ELSIF TG_OP = 'DELETE' THEN
        {_apply(table, [("old_rows", "-")])}
        {_prune(table)}
    ELSE
        {_apply(table, [("old_rows", "-"), ("new_rows", "")])}
        {_prune(table)}
    END IF;
    RETURN NULL;
END
$$"""


def _clear(table: str) -> str:
    return f"""
CREATE FUNCTION {table}_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {table};
    RETURN NULL;
END
$$"""


def _triggers(table: str) -> list[str]:
    days = _WEEKS[table][0]
    keep = f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_keep()"
    return [
        f"CREATE TRIGGER {table}_insert AFTER INSERT ON {days} "
        f"REFERENCING NEW TABLE AS new_rows {keep}",
        f"CREATE TRIGGER {table}_delete AFTER DELETE ON {days} "
        f"REFERENCING OLD TABLE AS old_rows {keep}",
        f"CREATE TRIGGER {table}_update AFTER UPDATE ON {days} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {keep}",
        f"CREATE TRIGGER {table}_truncate AFTER TRUNCATE ON {days} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_clear()",
    ]


def _fill(table: str) -> str:
    days, keys, sums = _WEEKS[table]
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return (
        f"INSERT INTO {table} ({', '.join(keys + sums)}) "
        f"SELECT {_week_keys(keys)}, {', '.join(f'sum(d.{s})' for s in sums)} "
        f"FROM {days} d GROUP BY {group}"
    )


def _credit_table(table: str, *keys: sa.Column[object]) -> None:
    op.create_table(
        table,
        sa.Column("merchant_id", _BIG, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *keys,
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("revenue_minor", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            *_WEEKS[table][1],
            name=op.f(f"pk_{table}"),
            postgresql_include=["weight", "revenue_minor"],
        ),
    )


def upgrade() -> None:
    op.create_table(
        "click_weeks",
        sa.Column("merchant_id", _BIG, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("link_id", _BIG, nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            *_WEEKS["click_weeks"][1],
            name=op.f("pk_click_weeks"),
            postgresql_include=["clicks", "unique_clicks"],
        ),
    )
    _credit_table(
        "credit_weeks",
        sa.Column("channel_kind", sa.String(length=40), nullable=False),
        sa.Column("channel_account_id", _BIG, nullable=False),
        sa.Column("campaign_id", _BIG, nullable=False),
    )
    _credit_table("credit_product_weeks", sa.Column("product_id", _BIG, nullable=False))
    _credit_table("credit_link_weeks", sa.Column("link_id", _BIG, nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        for table in _WEEKS:
            op.execute(_fill(table))
            op.execute(_function(table))
            op.execute(_clear(table))
            for statement in _triggers(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, (days, _, _) in _WEEKS.items():
            for event in ("insert", "delete", "update", "truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{event} ON {days}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_keep()")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_clear()")
    for table in reversed(_WEEKS):
        op.drop_table(table)
