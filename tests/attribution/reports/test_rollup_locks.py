"""The rollups' triggers on PostgreSQL (migration 0008): rows taken in one key order, so that
writers moving rows between the same keys in opposite directions do not deadlock, and
``TRUNCATE`` of clicks or credits emptying the rollups kept from them.

The deadlock is made deterministic with a third transaction holding rows of the rollup the
triggers write second (``click_days``, ``credit_product_days``): each writer is let go only
once both are waiting, so each has by then taken all the rows it takes before that point.
Under 0007 each had taken the key its row left and then needed the key the other's row
left; under 0008 the first writer takes both keys and the second waits for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text

from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.storage.models import (
    AttributionCredit,
    Click,
    ClickBucket,
    ClickDay,
    Conversion,
    CreditDay,
    CreditLinkDay,
    CreditProductDay,
)
from hub.tenancy import create_merchant
from tests.attribution.conversions._seed import Channel, add_channel, add_product
from tests.attribution.reports.conftest import connect, migrate
from tests.conftest import SECRET

AT = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
WAIT_S = 10.0  # for a writer to be seen waiting, and for a race to end
CREDIT_ROLLUPS = [CreditDay, CreditProductDay, CreditLinkDay]


async def _until_waiting(observer: asyncpg.Connection, writer: asyncpg.Connection) -> None:
    """Returns once ``writer`` waits for a lock another session holds; fails after WAIT_S."""
    pid = writer.get_server_pid()
    for _ in range(int(WAIT_S / 0.02)):
        if await observer.fetchval("SELECT cardinality(pg_blocking_pids($1))", pid):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited for a lock")


async def race(
    url: str, hold: str, first: str, second: str, *, commit: bool
) -> list[asyncpg.PostgresError | None]:
    """Runs ``first`` and ``second`` in two transactions, both held up by a third one that
    locks rows with ``hold`` until both wait; each one's error, or None."""
    holder, a, b = [await connect(url) for _ in range(3)]

    async def write(conn: asyncpg.Connection, sql: str) -> asyncpg.PostgresError | None:
        try:
            await conn.execute(sql)
        except asyncpg.PostgresError as exc:
            await conn.execute("ROLLBACK")
            return exc
        await conn.execute("COMMIT" if commit else "ROLLBACK")
        return None

    try:
        await holder.execute("BEGIN")
        assert len(await holder.fetch(hold)) == 2
        for conn in (a, b):
            await conn.execute("BEGIN; SET LOCAL lock_timeout = '20s'")
        async with asyncio.timeout(3 * WAIT_S), asyncio.TaskGroup() as tasks:
            one = tasks.create_task(write(a, first))
            await _until_waiting(holder, a)
            two = tasks.create_task(write(b, second))
            await _until_waiting(holder, b)
            await holder.execute("ROLLBACK")
        return [one.result(), two.result()]
    finally:
        for conn in (holder, a, b):
            await conn.close()


def deadlocked(results: list[asyncpg.PostgresError | None]) -> bool:
    codes = sorted(str(getattr(r, "sqlstate", None)) for r in results)
    assert codes in (["40P01", "None"], ["None", "None"]), results  # 40P01: deadlock detected
    return codes[0] == "40P01"


async def new_shop(sessions: SessionFactory) -> int:
    async with sessions() as session:
        made = await create_merchant(
            session, Vault(SECRET), name="Shop", storefront_url="https://shop.test/"
        )
        await session.commit()
        return made.merchant_id


async def rows_of(sessions: SessionFactory, model: Any, *columns: str) -> set[tuple[Any, ...]]:
    """The rollup's rows as stored at the database's revision, whatever the ORM's shape."""
    async with sessions() as session:
        found = await session.execute(
            text(f"SELECT {', '.join(columns)} FROM {model.__tablename__}")
        )
        return {tuple(r) for r in found}


async def test_clicks_moved_across_links_both_ways(
    database: str, db_sessions: SessionFactory
) -> None:
    """One click moved from link one to link two and another from two to one, at once."""
    await migrate(database, "0007")
    m = await new_shop(db_sessions)
    one, two = [await add_channel(db_sessions, m, kind) for kind in ("telegram", "discord")]
    assert one.link_id < two.link_id
    async with db_sessions() as session:
        for click_id, channel, is_unique in (("c1", one, True), ("c2", two, False)):
            session.add(
                Click(click_id=click_id, merchant_id=m, link_id=channel.link_id,
                      visitor_id="v", at=AT, is_bot=False, is_unique=is_unique)
            )  # fmt: skip
        await session.commit()
    hold = f"SELECT 1 FROM click_days WHERE merchant_id = {m} FOR UPDATE"
    first = f"UPDATE clicks SET link_id = {two.link_id} WHERE click_id = 'c1'"
    second = f"UPDATE clicks SET link_id = {one.link_id} WHERE click_id = 'c2'"
    before = {(one.link_id, 1, 1), (two.link_id, 1, 0)}

    assert deadlocked(await race(database, hold, first, second, commit=False))
    assert await rows_of(db_sessions, ClickBucket, "link_id", "clicks", "unique_clicks") == before

    await migrate(database, "head")
    assert not deadlocked(await race(database, hold, first, second, commit=True))
    after = {(one.link_id, 1, 0), (two.link_id, 1, 1)}
    assert await rows_of(db_sessions, ClickBucket, "link_id", "clicks", "unique_clicks") == after
    assert await rows_of(db_sessions, ClickDay, "link_id", "clicks", "unique_clicks") == after


async def test_currencies_corrected_both_ways(database: str, db_sessions: SessionFactory) -> None:
    """One conversion's currency corrected from USD to EUR and another's from EUR to USD, at
    once: their credits (copied by a trigger) move between the two currencies' rows."""
    await migrate(database, "0007")
    m = await new_shop(db_sessions)
    channel = await add_channel(db_sessions, m, "telegram")
    mug = await add_product(db_sessions, m, "Mug")
    async with db_sessions() as session:
        ids = []
        for order, currency, amount in (("o1", "USD", 100), ("o2", "EUR", 250)):
            conversion = Conversion(
                merchant_id=m, order_id=order, amount_minor=amount, currency=currency,
                occurred_at=AT,
            )  # fmt: skip
            session.add(conversion)
            await session.flush()
            ids.append(conversion.id)
            session.add(credit(m, conversion, channel, mug))
        await session.commit()
    hold = f"SELECT 1 FROM credit_product_days WHERE merchant_id = {m} FOR UPDATE"
    first = f"UPDATE conversions SET currency = 'EUR' WHERE id = {ids[0]}"
    second = f"UPDATE conversions SET currency = 'USD' WHERE id = {ids[1]}"
    columns = ("currency", "credits", "weight", "revenue_minor")
    before = {("USD", 1, 1.0, 100.0), ("EUR", 1, 1.0, 250.0)}

    assert deadlocked(await race(database, hold, first, second, commit=False))
    for rollup in CREDIT_ROLLUPS:
        assert await rows_of(db_sessions, rollup, *columns) == before, rollup

    await migrate(database, "head")
    assert not deadlocked(await race(database, hold, first, second, commit=True))
    after = {("EUR", 1, 1.0, 100.0), ("USD", 1, 1.0, 250.0)}
    columns = ("currency", "linear_credits", "linear_weight", "linear_revenue_minor")
    for rollup in CREDIT_ROLLUPS:
        assert await rows_of(db_sessions, rollup, *columns) == after, rollup


def credit(
    m: int, conversion: Conversion, channel: Channel, product: int | None
) -> AttributionCredit:
    return AttributionCredit(
        merchant_id=m, conversion_id=conversion.id, model="linear", click_id=f"k{conversion.id}",
        link_id=channel.link_id, channel_account_id=channel.account_id,
        channel_kind=channel.kind, product_id=product, weight=1.0,
        revenue_minor=float(conversion.amount_minor), occurred_at=conversion.occurred_at,
    )  # fmt: skip


# TRUNCATE -------------------------------------------------------------------------------


async def add_sales(sessions: SessionFactory, m: int, channel: Channel, tag: str) -> None:
    """Two clicks (one a bot's) and a conversion with one credit."""
    async with sessions() as session:
        for i, is_bot in enumerate((False, True)):
            session.add(
                Click(click_id=f"{tag}{i}", merchant_id=m, link_id=channel.link_id,
                      visitor_id="v", at=AT, is_bot=is_bot)
            )  # fmt: skip
        conversion = Conversion(
            merchant_id=m, order_id=tag, amount_minor=500, currency="USD", occurred_at=AT
        )
        session.add(conversion)
        await session.flush()
        session.add(credit(m, conversion, channel, None))
        await session.commit()


async def counts(sessions: SessionFactory) -> dict[str, int]:
    """Clicks and credits as each rollup counts them."""
    found = {}
    async with sessions() as session:
        for model in [ClickBucket, ClickDay]:
            found[model.__tablename__] = await session.scalar(
                select(text("coalesce(sum(clicks), 0)")).select_from(model)
            )
        for model in CREDIT_ROLLUPS:
            found[model.__tablename__] = await session.scalar(
                select(text("coalesce(sum(credits), 0)")).select_from(model)
            )
    return found


async def truncate(sessions: SessionFactory, statement: str) -> None:
    async with sessions() as session:
        await session.execute(text(statement))
        await session.commit()


CLICKS = ["click_buckets", "click_days"]
CREDITS = ["credit_days", "credit_product_days", "credit_link_days"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_truncate_empties_the_rollups(sessions: SessionFactory) -> None:
    m = await new_shop(sessions)
    channel = await add_channel(sessions, m, "telegram")
    await add_sales(sessions, m, channel, "a")
    await add_sales(sessions, m, channel, "b")
    assert await counts(sessions) == dict.fromkeys(CLICKS + CREDITS, 2)

    await truncate(sessions, "TRUNCATE clicks")
    assert await counts(sessions) == {**dict.fromkeys(CLICKS, 0), **dict.fromkeys(CREDITS, 2)}

    await truncate(sessions, "TRUNCATE attribution_credits")
    assert await counts(sessions) == dict.fromkeys(CLICKS + CREDITS, 0)

    # Rows written afterwards are counted from nothing, not on top of stale rows.
    await add_sales(sessions, m, channel, "c")
    assert await counts(sessions) == dict.fromkeys(CLICKS + CREDITS, 1)

    # Credits truncated with their conversions (cascade), clicks with their links.
    await truncate(sessions, "TRUNCATE conversions CASCADE")
    assert await counts(sessions) == {**dict.fromkeys(CLICKS, 1), **dict.fromkeys(CREDITS, 0)}
    await truncate(sessions, "TRUNCATE links CASCADE")
    assert await counts(sessions) == dict.fromkeys(CLICKS + CREDITS, 0)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_truncate_rolled_back_keeps_the_rollups(sessions: SessionFactory) -> None:
    m = await new_shop(sessions)
    await add_sales(sessions, m, await add_channel(sessions, m, "telegram"), "a")
    async with sessions() as session:
        await session.execute(text("TRUNCATE clicks, attribution_credits"))
        assert await session.scalar(select(text("count(*)")).select_from(ClickBucket)) == 0
        await session.rollback()
    assert await counts(sessions) == dict.fromkeys(CLICKS + CREDITS, 1)
