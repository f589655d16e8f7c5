"""The rollups' migrations up and down. 0008: the trigger functions of 0007 come back as they
were, the TRUNCATE triggers go, and the products' (merchant, URL) index serves the import's
lookup. 0011: the writers' lock of their merchants comes and goes, nothing else changes."""

from __future__ import annotations

import re

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import DatabaseSettings
from hub.storage.db import create_engine
from hub.storage.migrate import current_revision, downgrade, upgrade
from hub.storage.models import Product

FUNCTIONS = ["click_buckets_keep", "click_days_rezone", "credit_days_keep", "credit_days_rezone"]
CLEARING = ["click_buckets_clear", "credit_days_clear"]
INDEX = "ix_products_merchant_id_url"
KEEP = ["click_buckets_keep", "credit_days_keep"]  # the functions 0011 changes
LOCK = re.compile(r"\n *PERFORM 1 FROM merchants WHERE id IN \([^)]*\) ORDER BY id FOR SHARE;")


async def functions(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT proname, pg_get_functiondef(oid) FROM pg_proc WHERE proname = ANY(:n)"),
            {"n": FUNCTIONS + CLEARING},
        )
        return {name: definition for name, definition in rows}


async def truncate_triggers(engine: AsyncEngine) -> set[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                "WHERE tgtype & 32 <> 0 AND NOT tgisinternal"  # 32: TRIGGER_TYPE_TRUNCATE
            )
        )
        return {(table, name) for table, name in rows}


async def product_indexes(engine: AsyncEngine) -> dict[str, tuple[list[str], bool]]:
    async with engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_indexes("products"))
    return {str(i["name"]): ([str(c) for c in i["column_names"]], bool(i["unique"])) for i in found}


async def test_up_and_down_again(empty_db: str) -> None:
    engine = create_engine(DatabaseSettings(url=empty_db))
    postgres = engine.dialect.name == "postgresql"
    try:
        await upgrade(engine, "0007")
        assert INDEX not in await product_indexes(engine)
        if postgres:
            before = await functions(engine)
            assert sorted(before) == sorted(FUNCTIONS)
            assert await truncate_triggers(engine) == set()

        await upgrade(engine, "0008")
        assert (await product_indexes(engine))[INDEX] == (["merchant_id", "url"], False)
        if postgres:
            after = await functions(engine)
            assert sorted(after) == sorted(FUNCTIONS + CLEARING)
            assert all(after[name] != before[name] for name in FUNCTIONS)
            assert all("ORDER BY" in after[name] for name in FUNCTIONS)
            assert await truncate_triggers(engine) == {
                ("clicks", "click_buckets_clear"),
                ("attribution_credits", "credit_days_clear"),
            }

        await downgrade(engine, "0007")
        assert await current_revision(engine) == "0007"
        assert INDEX not in await product_indexes(engine)
        if postgres:
            assert await functions(engine) == before
            assert await truncate_triggers(engine) == set()
    finally:
        await engine.dispose()


async def test_the_import_finds_products_by_url_through_the_index(empty_db: str) -> None:
    engine = create_engine(DatabaseSettings(url=empty_db))
    # The lookup of hub.catalog.batch: a merchant's oldest product with this URL.
    lookup = (
        select(Product)
        .where(Product.merchant_id == 1, Product.url == "https://shop.test/p")
        .order_by(Product.id)
        .limit(1)
    )
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            sql = str(lookup.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SET enable_seqscan = off"))
                plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {sql}")))
            else:
                plan = "\n".join(
                    str(r) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
                )
        assert INDEX in plan, plan
    finally:
        await engine.dispose()


async def test_the_migration_up_and_down_leaves_the_functions_of_0010(empty_db: str) -> None:
    engine = create_engine(DatabaseSettings(url=empty_db))
    postgres = engine.dialect.name == "postgresql"
    try:
        await upgrade(engine, "0010")
        before = await functions(engine) if postgres else {}
        assert sorted(before) == (sorted(FUNCTIONS + CLEARING) if postgres else [])

        await upgrade(engine, "0011")
        if postgres:
            after = await functions(engine)
            assert sorted(after) == sorted(FUNCTIONS + CLEARING)
            for name in FUNCTIONS + CLEARING:
                assert (after[name] != before[name]) == (name in KEEP), name
            for name in KEEP:
                # Each kind of statement locks its merchants before its first rollup; the
                # rest of the function is 0010's.
                branches = re.findall(r"(?:THEN|ELSE)\n\s*(\w+ \w+ \w+ \w+)", after[name])
                assert branches == ["PERFORM 1 FROM merchants"] * 3, name
                assert LOCK.sub("", after[name]) == before[name], name

        await downgrade(engine, "0010")
        assert await current_revision(engine) == "0010"
        if postgres:
            assert await functions(engine) == before
    finally:
        await engine.dispose()
