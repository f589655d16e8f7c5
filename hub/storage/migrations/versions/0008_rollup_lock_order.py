"""Rollups kept in one lock order and cleared by TRUNCATE; products found by URL

The triggers of 0006 and 0007 subtracted a statement's old rows from the rollups
(``UPDATE ... FROM``, rows locked in whatever order the plan met them) and then added its new
rows (``INSERT ... ORDER BY ... ON CONFLICT``, in key order). Two transactions that each move
a row between the same two keys in opposite directions (a click moved from one link to
another and one moved back, two conversions whose currencies are corrected the other way
round) each locked the key they left, then waited for the key the other one left: a deadlock.

Now each statement's old and new rows are summed into net deltas per key (old rows count
-1, new rows +1) and applied by one ``INSERT ... GROUP BY key ORDER BY key ON CONFLICT DO
UPDATE`` per rollup, so that every writer takes rollup rows in one global order: the
rollups in a fixed order (``click_buckets`` then ``click_days``; ``credit_days``,
``credit_product_days`` then ``credit_link_days``) and each one's rows in primary-key order.
A key whose delta is zero (an update that moves nothing the rollup counts) is not touched.
Rows left with no clicks or credits are then deleted, as before; they are rows the same
statement has just locked, so the delete waits for no one. The delete joins the statement's
keys on the whole primary key (0006/0007 used a row-value ``IN``, which PostgreSQL planned as
a scan of the merchant's rollup rows per group: seconds per statement on a long history).
A merchant's zone change locks its rows in key order before rebuilding them. The order
holds within a statement; a transaction that writes one key in one statement and another
key in a later one (a conversion's credits deleted, then inserted anew) still takes them in
the order it writes them.

``TRUNCATE clicks`` and ``TRUNCATE attribution_credits`` (also when cascaded) now empty the
rollups kept from them, through statement-level ``AFTER TRUNCATE`` triggers (PostgreSQL;
SQLite has no TRUNCATE). They delete rather than truncate the rollups, so that reports
reading them are not blocked. Every writer of a rollup holds a lock on the table it is kept
from before it touches a rollup row (the zone-change triggers now lock that table first),
and TRUNCATE holds that table exclusively, so the deletes wait for no rollup writer.

``products`` gets an index on (merchant, URL) for the product import, which looks products
up by URL. It is not unique: the API stores a product per request, whatever its URL, so a
merchant may already have two with the same URL (the import updates the oldest).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 17:30:00
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _migration(name: str) -> ModuleType:
    """An earlier migration of this directory, for the function texts it created."""
    return importlib.import_module(f"hub.storage.migrations.versions.{name}")


_CLICKS = _migration("0006_click_buckets")
_CREDITS = _migration("0007_credit_days")
_PRODUCTS_INDEX = "ix_products_merchant_id_url"


def _upsert(table: str, keys: list[str], sums: list[str], deltas: str, taking: bool) -> str:
    """Apply net deltas to ``table`` in key order: ``deltas`` is a grouped query naming the
    key columns ``keys`` and then ``sums``, the first of which counts rows.

    A key that only gains is inserted or added to. A key that loses (``taking``) is changed
    only where its row exists, as the subtraction of 0006/0007 was: its row may be gone
    already (``ON DELETE CASCADE`` from a deleted link runs before or after the clicks'
    own cascade), and a row of no rows must not be made.
    """
    columns = ", ".join(keys + sums)
    ordered = ", ".join(keys)
    where = " OR ".join(f"d.{s} <> 0" for s in sums)
    if taking:
        match = " AND ".join(f"x.{k} = d.{k}" for k in keys)
        where = f"({where}) AND (d.{sums[0]} > 0 OR EXISTS (SELECT FROM {table} x WHERE {match}))"
    return f"""
        INSERT INTO {table} AS r ({columns})
        SELECT {columns} FROM ({deltas}) d WHERE {where} ORDER BY {ordered}
        ON CONFLICT ({ordered}) DO UPDATE
        SET {", ".join(f"{s} = r.{s} + excluded.{s}" for s in sums)};"""


def _prune(table: str, keys: list[str], count: str, rows: str) -> str:
    """Delete the rows of ``table`` left with no clicks or credits among the keys of ``rows``
    (a query naming the key columns ``keys``). A join on the whole key finds each row by the
    primary key; a row-value ``IN`` was planned as a scan of the merchant's rows per group."""
    match = " AND ".join(f"r.{k} = g.{k}" for k in keys)
    return f"""
        DELETE FROM {table} r USING (SELECT DISTINCT * FROM ({rows}) s) g
        WHERE {match} AND r.{count} <= 0;"""


# Clicks ---------------------------------------------------------------------------------

# A statement's clicks as signed rows: its old rows count -1, its new rows +1.
_CLICK_COLUMNS = "merchant_id, link_id, at, is_unique"
_CLICK_ROWS = {
    "old": f"SELECT {_CLICK_COLUMNS}, -1 AS sign FROM old_clicks WHERE NOT is_bot",
    "new": f"SELECT {_CLICK_COLUMNS}, 1 AS sign FROM new_clicks WHERE NOT is_bot",
}
_CLICK_SUMS = (
    "sum(c.sign) AS clicks, sum(CASE WHEN c.is_unique THEN c.sign ELSE 0 END) AS unique_clicks"
)
_PG_DAY = "timezone(m.timezone, c.at)::date"


def _click_keep(sides: tuple[str, ...]) -> str:
    """Apply one statement's net click deltas: buckets, then days, each in key order."""
    rows = " UNION ALL ".join(_CLICK_ROWS[side] for side in sides)
    taking = "old" in sides
    sums = ["clicks", "unique_clicks"]
    sql = _upsert(
        "click_buckets", ["merchant_id", "bucket_at", "link_id"], sums,
        f"SELECT c.merchant_id, {_CLICKS._PG_BUCKET} AS bucket_at, c.link_id, {_CLICK_SUMS} "
        f"FROM ({rows}) c GROUP BY 1, 2, 3",
        taking,
    )  # fmt: skip
    if taking:
        sql += _prune(
            "click_buckets", ["merchant_id", "bucket_at", "link_id"], "clicks",
            f"SELECT merchant_id, {_CLICKS._PG_BUCKET} AS bucket_at, link_id FROM old_clicks",
        )  # fmt: skip
    sql += _upsert(
        "click_days", ["merchant_id", "timezone", "day", "link_id"], sums,
        f"SELECT c.merchant_id, m.timezone, {_PG_DAY} AS day, c.link_id, {_CLICK_SUMS} "
        f"FROM ({rows}) c JOIN merchants m ON m.id = c.merchant_id GROUP BY 1, 2, 3, 4",
        taking,
    )  # fmt: skip
    if taking:
        sql += _prune(
            "click_days", ["merchant_id", "timezone", "day", "link_id"], "clicks",
            f"SELECT c.merchant_id, m.timezone, {_PG_DAY} AS day, c.link_id "
            "FROM old_clicks c JOIN merchants m ON m.id = c.merchant_id",
        )  # fmt: skip
    return sql


def _keep_function(name: str, keep: Callable[[tuple[str, ...]], str]) -> str:
    """A statement-level trigger function: each kind of statement has its transition tables."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {keep(("new",))}
    ELSIF TG_OP = 'DELETE' THEN
        {keep(("old",))}
    ELSE
        {keep(("old", "new"))}
    END IF;
    RETURN NULL;
END
$$
"""


_PG_CLICKS_REZONE = f"""
CREATE OR REPLACE FUNCTION click_days_rezone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE clicks IN ACCESS SHARE MODE;
    PERFORM 1 FROM click_days WHERE merchant_id = NEW.id
    ORDER BY merchant_id, timezone, day, link_id FOR UPDATE;
    DELETE FROM click_days WHERE merchant_id = NEW.id;
    {_CLICKS._PG_DAYS_OF.format(where="AND c.merchant_id = NEW.id")} ORDER BY 1, 2, 3, 4;
    RETURN NULL;
END
$$
"""

# Credits --------------------------------------------------------------------------------

_CREDIT_COLUMNS = (
    "merchant_id, model, occurred_at, channel_kind, channel_account_id, campaign_id, "
    "product_id, link_id, currency, weight, revenue_minor"
)
_CREDIT_ROWS = {
    "old": f"SELECT {_CREDIT_COLUMNS}, -1 AS sign FROM old_credits",
    "new": f"SELECT {_CREDIT_COLUMNS}, 1 AS sign FROM new_credits",
}
_CREDIT_SUMS = (
    "sum(c.sign) AS credits, sum(c.sign * c.weight) AS weight, "
    "sum(c.sign * c.revenue_minor) AS revenue_minor"
)


def _credit_keep(sides: tuple[str, ...]) -> str:
    """Apply one statement's net credit deltas, rollup by rollup, each in key order."""
    rows = " UNION ALL ".join(_CREDIT_ROWS[side] for side in sides)
    taking = "old" in sides
    sql = ""
    for table in _CREDITS._KEYS:
        sql += _upsert(
            table, _CREDITS._columns(table).split(", "), ["credits", "weight", "revenue_minor"],
            f"SELECT {_CREDITS._values(table, named=True)}, {_CREDIT_SUMS} "
            f"FROM ({rows}) c JOIN merchants m ON m.id = c.merchant_id "
            f"GROUP BY {_CREDITS._group(table)}",
            taking,
        )  # fmt: skip
        if taking:
            sql += _prune(
                table, _CREDITS._columns(table).split(", "), "credits",
                f"SELECT {_CREDITS._values(table, named=True)} "
                "FROM old_credits c JOIN merchants m ON m.id = c.merchant_id",
            )  # fmt: skip
    return sql


def _credit_rezone(table: str) -> str:
    return f"""
    PERFORM 1 FROM {table} WHERE merchant_id = NEW.id ORDER BY {_CREDITS._columns(table)}
    FOR UPDATE;
    DELETE FROM {table} WHERE merchant_id = NEW.id;
    {_CREDITS._fill(table, "WHERE c.merchant_id = NEW.id")} ORDER BY {_CREDITS._group(table)};"""


_PG_CREDITS_REZONE = f"""
CREATE OR REPLACE FUNCTION credit_days_rezone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE attribution_credits IN ACCESS SHARE MODE;
    {"".join(_credit_rezone(table) for table in _CREDITS._KEYS)}
    RETURN NULL;
END
$$
"""

# TRUNCATE -------------------------------------------------------------------------------

# source table → (trigger and function name, the rollups kept from it)
_CLEARED = {
    "clicks": ("click_buckets_clear", ["click_buckets", "click_days"]),
    "attribution_credits": ("credit_days_clear", list(_CREDITS._KEYS)),
}


def _clear_function(name: str, rollups: list[str]) -> str:
    deletes = " ".join(f"DELETE FROM {rollup};" for rollup in rollups)
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {deletes}
    RETURN NULL;
END
$$
"""


def _replacing(create: str) -> str:
    return create.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.create_index(op.f(_PRODUCTS_INDEX), "products", ["merchant_id", "url"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_keep_function("click_buckets_keep", _click_keep))
    op.execute(_PG_CLICKS_REZONE)
    op.execute(_keep_function("credit_days_keep", _credit_keep))
    op.execute(_PG_CREDITS_REZONE)
    for source, (name, rollups) in _CLEARED.items():
        op.execute(_clear_function(name, rollups))
        op.execute(
            f"CREATE TRIGGER {name} AFTER TRUNCATE ON {source} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for source, (name, _) in _CLEARED.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {source}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        for create in (
            _CLICKS._PG_FUNCTION, _CLICKS._PG_REZONE, _CREDITS._PG_FUNCTION, _CREDITS._PG_REZONE,
        ):  # fmt: skip
            op.execute(_replacing(create))
    op.drop_index(op.f(_PRODUCTS_INDEX), table_name="products")
