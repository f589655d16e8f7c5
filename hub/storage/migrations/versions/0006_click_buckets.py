"""click_buckets and click_days: people's clicks per link and 15-minute bucket / local day

Reports read clicks from these instead of scanning ``clicks``. Triggers on ``clicks`` keep
each row equal to the clicks it covers, in the transaction that writes them, whoever writes
(the drain, the embedded buffer, a script): PostgreSQL with statement-level triggers over
the transition tables (one grouped upsert per statement and table, rows taken in key order
so that concurrent writers never deadlock on them), SQLite with row-level triggers.
``click_days`` (local days in the merchant's zone) is kept on PostgreSQL only, which knows
time zones; a trigger on ``merchants`` rebuilds a merchant's days when its zone changes.
The upgrade fills both tables from the clicks already stored.

Credits get their conversion's currency (``attribution_credits.currency``), copied by
triggers when a credit is written or the conversion's currency changes, so that reports sum
credits without reading conversions; on PostgreSQL the index of credits by merchant, model
and time also carries the columns reports sum, so that they read credits from the index
alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CREDITS_INDEX = "ix_attribution_credits_merchant_id_model_occurred_at"
_CREDIT_COLUMNS = [
    "conversion_id", "link_id", "channel_account_id", "channel_kind", "campaign_id",
    "product_id", "currency", "weight", "revenue_minor",
]  # fmt: skip

_PG_CURRENCY = [
    """
CREATE FUNCTION credits_currency() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.currency := (SELECT currency FROM conversions WHERE id = NEW.conversion_id);
    RETURN NEW;
END
$$
""",
    "CREATE TRIGGER credits_currency BEFORE INSERT OR UPDATE OF conversion_id "
    "ON attribution_credits FOR EACH ROW EXECUTE FUNCTION credits_currency()",
    """
CREATE FUNCTION conversions_currency() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attribution_credits SET currency = NEW.currency WHERE conversion_id = NEW.id;
    RETURN NULL;
END
$$
""",
    "CREATE TRIGGER conversions_currency AFTER UPDATE OF currency ON conversions FOR EACH ROW "
    "WHEN (OLD.currency IS DISTINCT FROM NEW.currency) "
    "EXECUTE FUNCTION conversions_currency()",
]
_SQLITE_CURRENCY = [
    "CREATE TRIGGER credits_currency AFTER INSERT ON attribution_credits BEGIN "
    "UPDATE attribution_credits SET currency = (SELECT currency FROM conversions "
    "WHERE id = NEW.conversion_id) WHERE id = NEW.id; END",
    "CREATE TRIGGER conversions_currency AFTER UPDATE OF currency ON conversions BEGIN "
    "UPDATE attribution_credits SET currency = NEW.currency WHERE conversion_id = NEW.id; END",
]
_COPY_CURRENCY = (
    "UPDATE attribution_credits SET currency = (SELECT c.currency FROM conversions c "
    "WHERE c.id = attribution_credits.conversion_id)"
)

# The bucket of a click time: its UTC instant floored to 15 minutes.
_PG_BUCKET = "to_timestamp(floor(extract(epoch FROM at) / 900) * 900)"
# SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); the bucket in the same form.
_SQLITE_BUCKET = (
    "strftime('%Y-%m-%d %H:', {t}) "
    "|| printf('%02d:00.000000', CAST(strftime('%M', {t}) AS INTEGER) / 15 * 15)"
)

# A click's local day in its merchant's zone (``old_clicks`` / ``new_clicks`` joined to
# ``merchants m``).
_PG_DAY = "timezone(m.timezone, c.at)::date"

_PG_FUNCTION = f"""
CREATE FUNCTION click_buckets_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        WITH gone AS (
            SELECT merchant_id, {_PG_BUCKET} AS bucket_at, link_id,
                   count(*) AS clicks, count(*) FILTER (WHERE is_unique) AS unique_clicks
            FROM old_clicks WHERE NOT is_bot GROUP BY 1, 2, 3
        )
        UPDATE click_buckets b
        SET clicks = b.clicks - gone.clicks, unique_clicks = b.unique_clicks - gone.unique_clicks
        FROM gone
        WHERE b.merchant_id = gone.merchant_id AND b.bucket_at = gone.bucket_at
          AND b.link_id = gone.link_id;
        DELETE FROM click_buckets WHERE clicks <= 0 AND (merchant_id, bucket_at, link_id) IN (
            SELECT merchant_id, {_PG_BUCKET}, link_id FROM old_clicks);
        WITH gone AS (
            SELECT c.merchant_id, m.timezone, {_PG_DAY} AS day, c.link_id,
                   count(*) AS clicks, count(*) FILTER (WHERE c.is_unique) AS unique_clicks
            FROM old_clicks c JOIN merchants m ON m.id = c.merchant_id
            WHERE NOT c.is_bot GROUP BY 1, 2, 3, 4
        )
        UPDATE click_days d
        SET clicks = d.clicks - gone.clicks, unique_clicks = d.unique_clicks - gone.unique_clicks
        FROM gone
        WHERE d.merchant_id = gone.merchant_id AND d.timezone = gone.timezone
          AND d.day = gone.day AND d.link_id = gone.link_id;
        DELETE FROM click_days WHERE clicks <= 0 AND (merchant_id, timezone, day, link_id) IN (
            SELECT c.merchant_id, m.timezone, {_PG_DAY}, c.link_id
            FROM old_clicks c JOIN merchants m ON m.id = c.merchant_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO click_buckets AS b (merchant_id, bucket_at, link_id, clicks, unique_clicks)
        SELECT merchant_id, {_PG_BUCKET}, link_id, count(*), count(*) FILTER (WHERE is_unique)
        FROM new_clicks WHERE NOT is_bot
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (merchant_id, bucket_at, link_id) DO UPDATE
        SET clicks = b.clicks + excluded.clicks,
            unique_clicks = b.unique_clicks + excluded.unique_clicks;
        INSERT INTO click_days AS d (merchant_id, timezone, day, link_id, clicks, unique_clicks)
        SELECT c.merchant_id, m.timezone, {_PG_DAY}, c.link_id,
               count(*), count(*) FILTER (WHERE c.is_unique)
        FROM new_clicks c JOIN merchants m ON m.id = c.merchant_id WHERE NOT c.is_bot
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (merchant_id, timezone, day, link_id) DO UPDATE
        SET clicks = d.clicks + excluded.clicks,
            unique_clicks = d.unique_clicks + excluded.unique_clicks;
    END IF;
    RETURN NULL;
END
$$
"""

# All of one merchant's days, from its clicks (the backfill, and a zone change).
_PG_DAYS_OF = """
INSERT INTO click_days (merchant_id, timezone, day, link_id, clicks, unique_clicks)
SELECT c.merchant_id, m.timezone, timezone(m.timezone, c.at)::date, c.link_id,
       count(*), count(*) FILTER (WHERE c.is_unique)
FROM clicks c JOIN merchants m ON m.id = c.merchant_id
WHERE NOT c.is_bot {where} GROUP BY 1, 2, 3, 4
"""

_PG_REZONE = f"""
CREATE FUNCTION click_days_rezone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM click_days WHERE merchant_id = NEW.id;
    {_PG_DAYS_OF.format(where="AND c.merchant_id = NEW.id")};
    RETURN NULL;
END
$$
"""

_PG_TRIGGERS = [
    "CREATE TRIGGER click_buckets_insert AFTER INSERT ON clicks "
    "REFERENCING NEW TABLE AS new_clicks FOR EACH STATEMENT EXECUTE FUNCTION click_buckets_keep()",
    "CREATE TRIGGER click_buckets_delete AFTER DELETE ON clicks "
    "REFERENCING OLD TABLE AS old_clicks FOR EACH STATEMENT EXECUTE FUNCTION click_buckets_keep()",
    "CREATE TRIGGER click_buckets_update AFTER UPDATE ON clicks "
    "REFERENCING OLD TABLE AS old_clicks NEW TABLE AS new_clicks "
    "FOR EACH STATEMENT EXECUTE FUNCTION click_buckets_keep()",
    "CREATE TRIGGER click_days_rezone AFTER UPDATE OF timezone ON merchants FOR EACH ROW "
    "WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION click_days_rezone()",
]


def _sqlite_add(row: str) -> str:
    return (
        "INSERT INTO click_buckets (merchant_id, bucket_at, link_id, clicks, unique_clicks) "
        f"SELECT {row}.merchant_id, {_SQLITE_BUCKET.format(t=row + '.at')}, {row}.link_id, 1, "
        f"{row}.is_unique = 1 WHERE NOT {row}.is_bot "
        "ON CONFLICT (merchant_id, bucket_at, link_id) DO UPDATE "
        "SET clicks = clicks + 1, unique_clicks = unique_clicks + excluded.unique_clicks;"
    )


def _sqlite_take(row: str) -> str:
    key = (
        f"merchant_id = {row}.merchant_id AND link_id = {row}.link_id "
        f"AND bucket_at = {_SQLITE_BUCKET.format(t=row + '.at')}"
    )
    return (
        f"UPDATE click_buckets SET clicks = clicks - 1, unique_clicks = unique_clicks - "
        f"({row}.is_unique = 1) WHERE NOT {row}.is_bot AND {key}; "
        f"DELETE FROM click_buckets WHERE clicks <= 0 AND {key};"
    )


_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER click_buckets_insert AFTER INSERT ON clicks BEGIN {_sqlite_add('NEW')} END",
    f"CREATE TRIGGER click_buckets_delete AFTER DELETE ON clicks BEGIN {_sqlite_take('OLD')} END",
    "CREATE TRIGGER click_buckets_update AFTER UPDATE OF merchant_id, link_id, at, is_bot, "
    f"is_unique ON clicks BEGIN {_sqlite_take('OLD')} {_sqlite_add('NEW')} END",
]


def upgrade() -> None:
    op.create_table(
        "click_buckets",
        sa.Column("merchant_id", _BIG, nullable=False),
        sa.Column("bucket_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("link_id", _BIG, nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_click_buckets_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "bucket_at", "link_id", name=op.f("pk_click_buckets")
        ),
    )  # fmt: skip
    op.create_index(op.f("ix_click_buckets_link_id"), "click_buckets", ["link_id"], unique=False)
    op.create_table(
        "click_days",
        sa.Column("merchant_id", _BIG, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("link_id", _BIG, nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_click_days_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "timezone", "day", "link_id", name=op.f("pk_click_days")
        ),
    )  # fmt: skip
    op.create_index(op.f("ix_click_days_link_id"), "click_days", ["link_id"], unique=False)
    with op.batch_alter_table("attribution_credits") as batch:
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
    op.execute(_COPY_CURRENCY)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "INSERT INTO click_buckets (merchant_id, bucket_at, link_id, clicks, unique_clicks) "
            f"SELECT merchant_id, {_PG_BUCKET}, link_id, count(*), "
            "count(*) FILTER (WHERE is_unique) FROM clicks WHERE NOT is_bot GROUP BY 1, 2, 3"
        )
        op.execute(_PG_DAYS_OF.format(where=""))
        op.drop_index(_CREDITS_INDEX, table_name="attribution_credits")
        op.create_index(
            _CREDITS_INDEX, "attribution_credits", ["merchant_id", "model", "occurred_at"],
            postgresql_include=_CREDIT_COLUMNS,
        )  # fmt: skip
        op.execute(_PG_FUNCTION)
        op.execute(_PG_REZONE)
        for statement in _PG_TRIGGERS + _PG_CURRENCY:
            op.execute(statement)
    else:
        op.execute(
            "INSERT INTO click_buckets (merchant_id, bucket_at, link_id, clicks, unique_clicks) "
            f"SELECT merchant_id, {_SQLITE_BUCKET.format(t='at')}, link_id, count(*), "
            "sum(is_unique = 1) FROM clicks WHERE NOT is_bot GROUP BY 1, 2, 3"
        )
        for statement in _SQLITE_TRIGGERS + _SQLITE_CURRENCY:
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(f"DROP TRIGGER IF EXISTS credits_currency{' ON attribution_credits' * postgres}")
    op.execute(f"DROP TRIGGER IF EXISTS conversions_currency{' ON conversions' * postgres}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS credits_currency()")
        op.execute("DROP FUNCTION IF EXISTS conversions_currency()")
    for name in ("click_buckets_insert", "click_buckets_delete", "click_buckets_update"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON clicks")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(_CREDITS_INDEX, table_name="attribution_credits")
        op.create_index(
            _CREDITS_INDEX, "attribution_credits", ["merchant_id", "model", "occurred_at"]
        )
        op.execute("DROP TRIGGER IF EXISTS click_days_rezone ON merchants")
        op.execute("DROP FUNCTION IF EXISTS click_days_rezone()")
        op.execute("DROP FUNCTION IF EXISTS click_buckets_keep()")
    with op.batch_alter_table("attribution_credits") as batch:
        batch.drop_column("currency")
    op.drop_index(op.f("ix_click_days_link_id"), table_name="click_days")
    op.drop_table("click_days")
    op.drop_index(op.f("ix_click_buckets_link_id"), table_name="click_buckets")
    op.drop_table("click_buckets")
