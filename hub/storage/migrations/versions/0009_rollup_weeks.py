"""click_weeks, credit_weeks, credit_product_weeks, credit_link_weeks: day rollups per week

A report by product or by link over a quarter summed about 150,000 day rows (2,000 products
on 90 days) for credits and as many for clicks; by channel, account or campaign, as many
again for seven models side by side. The same rows per local week (Monday to Sunday, keyed by
the week's Monday in the ``day`` column) are a fifth as many: reports read a period's whole
weeks from these tables and only the days before and after them from the day tables.

Each week table is kept by the triggers that keep its day table (0008's statement-level
``click_buckets_keep`` on clicks, ``credit_days_keep`` on credits), from the same signed
rows: after the day rollups, the statement's net deltas per week are applied by one
``INSERT ... GROUP BY key ORDER BY key ON CONFLICT DO UPDATE`` per week table, and weeks left
with no clicks or credits are deleted. Every writer thus takes rollup rows in one order —
buckets, days, then weeks; within each table, key order — and no second layer of triggers
runs on the day tables. A merchant's zone change rebuilds its weeks from its rebuilt days;
``TRUNCATE`` of clicks or credits empties them with the day rollups. A link deleted takes its
day rows by cascade and its weeks through the cascade of its clicks (weeks have no foreign
key, so they are there to subtract from). PostgreSQL only, like the day tables; the upgrade
fills them from the day rows already stored.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:50:00
"""

from __future__ import annotations

import importlib
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _migration(name: str) -> ModuleType:
    """An earlier migration of this directory, for the function texts it created."""
    return importlib.import_module(f"hub.storage.migrations.versions.{name}")


_CLICKS = _migration("0006_click_buckets")
_CREDITS = _migration("0007_credit_days")
_ORDERED = _migration("0008_rollup_lock_order")

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CREDIT_SUMS = ["credits", "weight", "revenue_minor"]
_CLICK_SUMS = ["clicks", "unique_clicks"]
# week table → its day table
_WEEKS = {
    "click_weeks": "click_days",
    "credit_weeks": "credit_days",
    "credit_product_weeks": "credit_product_days",
    "credit_link_weeks": "credit_link_days",
}
_CREDIT_WEEKS = {days: weeks for weeks, days in _WEEKS.items() if days != "click_days"}


def _keys(table: str) -> list[str]:
    """A week table's key columns: its day table's (``day`` holds the week's Monday)."""
    if table == "click_weeks":
        return ["merchant_id", "timezone", "day", "link_id"]
    columns: str = _CREDITS._columns(_WEEKS[table])
    return columns.split(", ")


def _monday(day: str) -> str:
    return f"date_trunc('week', {day})::date"


# Clicks ---------------------------------------------------------------------------------

_CLICK_DAY = "timezone(m.timezone, c.at)::date"


def _click_keep(sides: tuple[str, ...]) -> str:
    """0008's buckets and days, then the statement's net deltas per week."""
    rows = " UNION ALL ".join(_ORDERED._CLICK_ROWS[side] for side in sides)
    taking = "old" in sides
    sql: str = _ORDERED._click_keep(sides)
    sql += _ORDERED._upsert(
        "click_weeks", _keys("click_weeks"), _CLICK_SUMS,
        f"SELECT c.merchant_id, m.timezone, {_monday(_CLICK_DAY)} AS day, c.link_id, "
        f"{_ORDERED._CLICK_SUMS} FROM ({rows}) c JOIN merchants m ON m.id = c.merchant_id "
        "GROUP BY 1, 2, 3, 4",
        taking,
    )  # fmt: skip
    if taking:
        sql += _ORDERED._prune(
            "click_weeks", _keys("click_weeks"), "clicks",
            f"SELECT c.merchant_id, m.timezone, {_monday(_CLICK_DAY)} AS day, c.link_id "
            "FROM old_clicks c JOIN merchants m ON m.id = c.merchant_id",
        )  # fmt: skip
    return sql


# Credits --------------------------------------------------------------------------------


def _credit_keep(sides: tuple[str, ...]) -> str:
    """0008's day rollups, then the statement's net deltas per week, table by table."""
    rows = " UNION ALL ".join(_ORDERED._CREDIT_ROWS[side] for side in sides)
    taking = "old" in sides
    sql: str = _ORDERED._credit_keep(sides)
    for days, weeks in _CREDIT_WEEKS.items():
        values = _CREDITS._values(days, named=True).replace(_CREDITS._DAY, _monday(_CREDITS._DAY))
        sql += _ORDERED._upsert(
            weeks, _keys(weeks), _CREDIT_SUMS,
            f"SELECT {values}, {_ORDERED._CREDIT_SUMS} "
            f"FROM ({rows}) c JOIN merchants m ON m.id = c.merchant_id "
            f"GROUP BY {_CREDITS._group(days)}",
            taking,
        )  # fmt: skip
        if taking:
            sql += _ORDERED._prune(
                weeks, _keys(weeks), "credits",
                f"SELECT {values} FROM old_credits c JOIN merchants m ON m.id = c.merchant_id",
            )  # fmt: skip
    return sql


# Zone changes and TRUNCATE ----------------------------------------------------------------


def _fill(weeks: str, where: str = "") -> str:
    """Weeks from their day rows (all, or a merchant's)."""
    keys = _keys(weeks)
    sums = _CLICK_SUMS if weeks == "click_weeks" else _CREDIT_SUMS
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    head = ", ".join(_monday("d.day") if k == "day" else f"d.{k}" for k in keys)
    return (
        f"INSERT INTO {weeks} ({', '.join(keys + sums)}) "
        f"SELECT {head}, {', '.join(f'sum(d.{s})' for s in sums)} "
        f"FROM {_WEEKS[weeks]} d {where} GROUP BY {group} ORDER BY {group}"
    )


def _rebuild(weeks: str) -> str:
    """A merchant's weeks again from its days, rows locked in key order first."""
    return f"""
    PERFORM 1 FROM {weeks} WHERE merchant_id = NEW.id ORDER BY {", ".join(_keys(weeks))}
    FOR UPDATE;
    DELETE FROM {weeks} WHERE merchant_id = NEW.id;
    {_fill(weeks, "WHERE d.merchant_id = NEW.id")};"""


def _rezone(function: str, weeks: list[str]) -> str:
    """0008's zone-change function, with the merchant's weeks rebuilt after its days."""
    rebuilt = "".join(_rebuild(w) for w in weeks)
    assert "    RETURN NULL;\nEND" in function, "0008's zone-change function has changed"
    return function.replace("    RETURN NULL;\nEND", f"{rebuilt}\n    RETURN NULL;\nEND", 1)


def _functions(weeks: bool) -> list[str]:
    """The rollup functions of clicks and credits, with the weeks (or as 0008 left them)."""
    clicks, credits = (_click_keep, _credit_keep) if weeks else (
        _ORDERED._click_keep, _ORDERED._credit_keep)  # fmt: skip
    functions = [
        _ORDERED._keep_function("click_buckets_keep", clicks),
        _ORDERED._keep_function("credit_days_keep", credits),
        _rezone(_ORDERED._PG_CLICKS_REZONE, ["click_weeks"] if weeks else []),
        _rezone(_ORDERED._PG_CREDITS_REZONE, list(_CREDIT_WEEKS.values()) if weeks else []),
    ]
    for name, rollups in _ORDERED._CLEARED.values():
        kept = [w for w, d in _WEEKS.items() if d in rollups] if weeks else []
        functions.append(_ORDERED._replacing(_ORDERED._clear_function(name, rollups + kept)))
    return functions


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
            *_keys(table), name=op.f(f"pk_{table}"), postgresql_include=["weight", "revenue_minor"]
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
            *_keys("click_weeks"), name=op.f("pk_click_weeks"), postgresql_include=_CLICK_SUMS
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
        for weeks in _WEEKS:
            op.execute(_fill(weeks))
        for function in _functions(weeks=True):
            op.execute(function)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in _functions(weeks=False):
            op.execute(function)
    for table in reversed(_WEEKS):
        op.drop_table(table)
