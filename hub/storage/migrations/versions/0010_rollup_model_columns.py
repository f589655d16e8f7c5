"""Credit rollups: one row per key, with the figures of every model in columns of their own

Up to 0009, each credit rollup (``credit_days``, ``credit_product_days``,
``credit_link_days`` and their weeks) held a row per model: a comparison of the seven
attribution models by product over a quarter read about 300,000 rollup rows (seven models x
2,500 products and currencies x 13 weeks and the days around them) and grouped them, well
over 100 ms. Now a rollup row is keyed by merchant, zone, day (or week), the dimension's key
and currency, and holds ``credits`` (every model's credits together, which decides whether
the row is still needed) and, for each model, ``<model>_credits``, ``<model>_weight`` and
``<model>_revenue_minor``. A comparison reads a seventh of the rows; a report of one model
reads about as many rows as before (the keys any model credited), a few columns of each.

The triggers are those of 0008/0009 with pivoted sums: one statement's signed credit rows
(old -1, new +1) are summed per key into every model's columns at once and applied by one
ordered upsert per rollup, days then weeks, rows in key order; rows left with no credits are
deleted. A zone change rebuilds the merchant's days from its credits and its weeks from its
days. The upgrade turns the rows per model into rows per key (the downgrade turns them back).

The models are the attribution models of this revision (``MODELS`` below, as
``attribution.models.MODELS`` names them). ``attribution_credits.model`` is now checked
against them on PostgreSQL, so that a credit the rollups could not count is refused rather
than left out of reports. A model added later adds its three columns (``NOT NULL DEFAULT 0``,
filled from its credits), widens the check and replaces the two functions below.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 20:10:00
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _migration(name: str) -> ModuleType:
    """An earlier migration of this directory, for the function texts it created."""
    return importlib.import_module(f"hub.storage.migrations.versions.{name}")


_CREDITS = _migration("0007_credit_days")
_ORDERED = _migration("0008_rollup_lock_order")
_WEEKLY = _migration("0009_rollup_weeks")

MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov",
          "shapley")  # fmt: skip
_FIGURES = ("credits", "weight", "revenue_minor")
_SUMS = ["credits", *(f"{m}_{f}" for m in MODELS for f in _FIGURES)]
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# day rollup → its weeks, in the order writers take them (days first, then weeks)
_ROLLUPS = {
    "credit_days": "credit_weeks",
    "credit_product_days": "credit_product_weeks",
    "credit_link_days": "credit_link_weeks",
}
_TABLES = [*_ROLLUPS, *_ROLLUPS.values()]
_CHECK = "ck_attribution_credits_model"


def _days(table: str) -> str:
    """The day rollup of ``table`` (itself, or the one its weeks sum)."""
    return next(d for d, w in _ROLLUPS.items() if table in (d, w))


def _keys(table: str) -> list[str]:
    """Merchant, zone, day (a week's Monday in the week tables), the dimension's key, currency."""
    return ["merchant_id", "timezone", "day", *_CREDITS._KEYS[_days(table)]]


def _values(table: str) -> str:
    """The key of a credit ``c`` of merchant ``m`` in ``table``, named as its columns."""
    day = _CREDITS._DAY if table in _ROLLUPS else _WEEKLY._monday(_CREDITS._DAY)
    values = ["c.merchant_id", "m.timezone", day, *_CREDITS._KEYS[_days(table)].values()]
    return ", ".join(f"{v} AS {k}" for v, k in zip(values, _keys(table), strict=True))


def _group(table: str) -> str:
    return ", ".join(str(i + 1) for i in range(len(_keys(table))))


_SIGNED = ("c.sign", "c.sign * c.weight", "c.sign * c.revenue_minor")
# Signed credit rows ``c`` (``sign`` -1 or +1; a plain credit row counts +1) summed per key,
# every model's figures in its own columns.
_PIVOT = ", ".join(
    [
        "sum(c.sign) AS credits",
        *(
            f"sum(CASE WHEN c.model = '{m}' THEN {v} ELSE 0 END) AS {m}_{f}"
            for m in MODELS
            for f, v in zip(_FIGURES, _SIGNED, strict=True)
        ),
    ]
)


def _credit_keep(sides: tuple[str, ...]) -> str:
    """Apply one statement's net credit deltas: each rollup, days then weeks, in key order."""
    rows = " UNION ALL ".join(_ORDERED._CREDIT_ROWS[side] for side in sides)
    taking = "old" in sides
    sql = ""
    for table in _TABLES:
        sql += _ORDERED._upsert(
            table, _keys(table), _SUMS,
            f"SELECT {_values(table)}, {_PIVOT} "
            f"FROM ({rows}) c JOIN merchants m ON m.id = c.merchant_id GROUP BY {_group(table)}",
            taking,
        )  # fmt: skip
        if taking:
            sql += _ORDERED._prune(
                table, _keys(table), "credits",
                f"SELECT {_values(table)} FROM old_credits c "
                "JOIN merchants m ON m.id = c.merchant_id",
            )  # fmt: skip
    return sql


def _fill(table: str, where: str = "") -> str:
    """A day rollup from the credits, or a week rollup from its days (every merchant's, or
    those ``where`` selects: ``c`` is the credit, ``d`` the day row)."""
    keys = _keys(table)
    if table in _ROLLUPS:
        source = (
            f"SELECT {_values(table)}, {_PIVOT} FROM (SELECT *, 1 AS sign FROM "
            f"attribution_credits) c JOIN merchants m ON m.id = c.merchant_id {where}"
        )
    else:
        head = ", ".join(_WEEKLY._monday("d.day") if k == "day" else f"d.{k}" for k in keys)
        sums = ", ".join(f"sum(d.{s})" for s in _SUMS)
        source = f"SELECT {head}, {sums} FROM {_days(table)} d {where}"
    return (
        f"INSERT INTO {table} ({', '.join(keys + _SUMS)}) {source} "
        f"GROUP BY {_group(table)} ORDER BY {_group(table)}"
    )


def _rebuild(table: str) -> str:
    """A merchant's rows of ``table`` again, its rows locked in key order first."""
    where = "WHERE c.merchant_id = NEW.id" if table in _ROLLUPS else "WHERE d.merchant_id = NEW.id"
    return f"""
    PERFORM 1 FROM {table} WHERE merchant_id = NEW.id ORDER BY {", ".join(_keys(table))}
    FOR UPDATE;
    DELETE FROM {table} WHERE merchant_id = NEW.id;
    {_fill(table, where)};"""


_PG_REZONE = f"""
CREATE OR REPLACE FUNCTION credit_days_rezone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE attribution_credits IN ACCESS SHARE MODE;
    {"".join(_rebuild(table) for table in _TABLES)}
    RETURN NULL;
END
$$
"""


_KEY_TYPES: dict[str, Any] = {
    "channel_kind": sa.String(length=40),
    "channel_account_id": _BIG,
    "campaign_id": _BIG,
    "product_id": _BIG,
    "link_id": _BIG,
    "currency": sa.String(length=3),
}


def _create(table: str, *, by_model: bool = False) -> None:
    """``table`` with a row per key (or, ``by_model``, per model and key as up to 0009)."""
    model = [sa.Column("model", sa.String(length=40), nullable=False)] if by_model else []
    sums = list(_FIGURES) if by_model else _SUMS
    op.create_table(
        table,
        sa.Column("merchant_id", _BIG, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        *model,
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(k, _KEY_TYPES[k], nullable=False) for k in _CREDITS._KEYS[_days(table)]),
        *(
            sa.Column(s, sa.BigInteger() if s.endswith("credits") else sa.Float(), nullable=False)
            for s in sums
        ),
        # Up to 0009 the key's index carried the figures (reports read it alone); a row per
        # key does not: its figures change on every write, and with them out of the index an
        # update is a heap-only tuple (no index entry, pruned in place).
        sa.PrimaryKeyConstraint(
            *(_old_keys(table) if by_model else _keys(table)),
            name=op.f(f"pk_{table}"),
            postgresql_include=list(_FIGURES[1:]) if by_model else [],
        ),
    )


def _old_keys(table: str) -> list[str]:
    """The key columns of ``table`` up to 0009: a row per model."""
    return ["merchant_id", "timezone", "model", "day", *_CREDITS._KEYS[_days(table)]]


def _pivoted(table: str) -> str:
    """Rows per model (the table as 0009 left it, renamed) → rows per key."""
    keys = ", ".join(_keys(table))
    sums = ", ".join(
        [
            "sum(credits)",
            *(
                f"sum(CASE WHEN model = '{m}' THEN {f} ELSE 0 END)"
                for m in MODELS
                for f in _FIGURES
            ),
        ]
    )
    return (
        f"INSERT INTO {table} ({keys}, {', '.join(_SUMS)}) SELECT {keys}, {sums} "
        f"FROM {table}_by_model GROUP BY {keys} ORDER BY {keys}"
    )


def _unpivoted(table: str) -> str:
    """Rows per key (renamed) → a row per model and key, as 0009 keeps them."""
    keys = ", ".join(_keys(table))
    each = " UNION ALL ".join(
        f"SELECT {keys}, '{m}' AS model, {', '.join(f'{m}_{f} AS {f}' for f in _FIGURES)} "
        f"FROM {table}_by_key WHERE {m}_credits <> 0"
        for m in MODELS
    )
    old = ", ".join(_old_keys(table))
    figures = ", ".join(_FIGURES)
    return (
        f"INSERT INTO {table} ({old}, {figures}) SELECT {old}, {figures} FROM ({each}) r "
        f"ORDER BY {old}"
    )


def _swap(table: str, suffix: str) -> None:
    """Rename ``table`` (and its primary key) out of the way, keeping its rows to convert."""
    op.rename_table(table, f"{table}_{suffix}")
    op.execute(f"ALTER INDEX pk_{table} RENAME TO pk_{table}_{suffix}")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgres:
            _swap(table, "by_model")
        else:
            op.drop_table(table)  # empty: kept on PostgreSQL only
        _create(table)
        if postgres:
            op.execute(_pivoted(table))
            op.drop_table(f"{table}_by_model")
    if postgres:
        op.execute(_ORDERED._keep_function("credit_days_keep", _credit_keep))
        op.execute(_PG_REZONE)
        models = ", ".join(f"'{m}'" for m in MODELS)
        op.create_check_constraint(_CHECK, "attribution_credits", f"model IN ({models})")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_constraint(_CHECK, "attribution_credits", type_="check")
    for table in _TABLES:
        if postgres:
            _swap(table, "by_key")
        else:
            op.drop_table(table)
        _create(table, by_model=True)
        if postgres:
            op.execute(_unpivoted(table))
            op.drop_table(f"{table}_by_key")
    if postgres:
        for function in _WEEKLY._functions(weeks=True):
            op.execute(function)
