"""A merchant's zone change racing writers of its clicks and credits (migration 0011).

Two transactions are driven one statement at a time on connections of their own: the zone
change ``Z`` (``UPDATE merchants SET timezone``, whose row triggers rebuild the merchant's
rollups in the new zone) and a writer ``T`` (an ``INSERT`` of clicks or credits, or a delete
or refund of stored ones, whose statement trigger applies them to the rollups in the
merchant's zone). Whichever starts first stays open while the other runs; a third connection
sees, with ``pg_blocking_pids``, whether the second waits for the first. With 0011 it does,
and after both commit every rollup equals the raw rows grouped in the new zone. At 0010 an
insert and a zone change did not wait for each other, and the inserted rows stayed under the
old zone, where reports in the new zone miss them; a delete or refund waited, but too late.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from hub.storage.db import SessionFactory
from hub.storage.models import Click, Conversion
from tests.attribution.conversions._seed import add_channel
from tests.attribution.reports.conftest import connect, migrate
from tests.attribution.reports.test_rollup_locks import credit, new_shop

OLD_ZONE = "UTC"  # the merchant's zone until the change
ZONE = "Pacific/Chatham"  # UTC+13:45 in March: a click at 11:00 UTC is on the next day there
HISTORY = datetime(2026, 2, 1, 11, 0, tzinfo=UTC)  # rows stored before the race, weeks earlier
AT = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)  # a Sunday in UTC, Monday (a new week) in ZONE
WRITTEN = 2  # clicks or credits the racing writer inserts
WAIT_S = 10.0  # for a transaction to be seen waiting, or to finish

# Rollups → (their key columns, the same key of a raw row in ZONE); ``{at}`` is the raw time.
DAY = f"timezone('{ZONE}', {{at}})::date"
WEEK = f"date_trunc('week', timezone('{ZONE}', {{at}}))::date"
CLICK_ROLLUPS = {
    "click_buckets": ("merchant_id, bucket_at, link_id",
                      "merchant_id, to_timestamp(floor(extract(epoch FROM at) / 900) * 900), "
                      "link_id"),
    "click_days": ("merchant_id, timezone, day, link_id",
                   f"merchant_id, '{ZONE}', {DAY.format(at='at')}, link_id"),
    "click_weeks": ("merchant_id, timezone, day, link_id",
                    f"merchant_id, '{ZONE}', {WEEK.format(at='at')}, link_id"),
}  # fmt: skip
CREDIT_DIMENSIONS = {
    "credit": ("channel_kind, channel_account_id, campaign_id, currency",
               "coalesce(channel_kind, ''), coalesce(channel_account_id, 0), "
               "coalesce(campaign_id, 0), coalesce(currency, '')"),
    "credit_product": ("product_id, currency", "coalesce(product_id, 0), coalesce(currency, '')"),
    "credit_link": ("link_id, currency", "coalesce(link_id, 0), coalesce(currency, '')"),
}  # fmt: skip
CREDIT_ROLLUPS = {
    f"{prefix}_{period}s": (
        f"merchant_id, timezone, day, {columns}",
        f"merchant_id, '{ZONE}', {local.format(at='occurred_at')}, {values}",
    )
    for prefix, (columns, values) in CREDIT_DIMENSIONS.items()
    for period, local in (("day", DAY), ("week", WEEK))
}
# kind → (raw table, rollups, (the sums stored, the same sums of raw rows))
KINDS = {
    "clicks": ("clicks", CLICK_ROLLUPS,
               ("clicks, unique_clicks", "count(*), count(*) FILTER (WHERE is_unique)")),
    # Every credit is the linear model's: its figures are the row's.
    "credits": ("attribution_credits", CREDIT_ROLLUPS,
                ("credits, linear_credits, linear_weight, linear_revenue_minor",
                 "count(*), count(*), sum(weight), sum(revenue_minor)")),
}  # fmt: skip

Rows = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


async def rollups(conn: asyncpg.Connection, kind: str) -> tuple[Rows, Rows]:
    """(each rollup of ``kind`` as stored, the raw rows grouped in ZONE), keyed alike."""
    source, tables, (stored_sums, raw_sums) = KINDS[kind]
    stored: Rows = {}
    expected: Rows = {}
    for table, (keys, values) in tables.items():
        n = len(keys.split(", "))
        group = ", ".join(str(i + 1) for i in range(n))
        found = await conn.fetch(f"SELECT {keys}, {stored_sums} FROM {table}")
        stored[table] = {tuple(r)[:n]: tuple(r)[n:] for r in found}
        raw = f"SELECT {values}, {raw_sums} FROM {source}"
        if source == "clicks":
            raw += " WHERE NOT is_bot"
        found = await conn.fetch(f"{raw} GROUP BY {group}")
        expected[table] = {tuple(r)[:n]: tuple(r)[n:] for r in found}
    return stored, expected


async def seed(sessions: SessionFactory, kind: str) -> tuple[int, str, list[Any]]:
    """A merchant in OLD_ZONE with clicks and a credit weeks before AT (for the zone change
    to move), and the racing writer's statement with its arguments: WRITTEN clicks, or
    WRITTEN credits of a conversion at AT."""
    m = await new_shop(sessions)
    channel = await add_channel(sessions, m, "telegram")
    async with sessions() as session:
        for n, is_unique in enumerate((True, False, True)):
            session.add(
                Click(click_id=f"h{n}", merchant_id=m, link_id=channel.link_id, visitor_id="v",
                      at=HISTORY, is_bot=False, is_unique=is_unique)
            )  # fmt: skip
        conversions = [
            Conversion(merchant_id=m, order_id=f"o{n}", amount_minor=500, currency="USD",
                       occurred_at=at)
            for n, at in enumerate((HISTORY, AT))
        ]  # fmt: skip
        session.add_all(conversions)
        await session.flush()
        session.add(credit(m, conversions[0], channel, None))
        await session.commit()
    if kind == "clicks":
        return m, CLICKS, [m, channel.link_id, AT]
    return m, CREDITS, [m, conversions[1].id, channel.link_id, channel.account_id, AT]


CLICKS = (
    "INSERT INTO clicks (click_id, merchant_id, link_id, visitor_id, at, is_bot, is_unique) "
    f"SELECT 't' || n, $1, $2, 'v', $3, false, n = 1 FROM generate_series(1, {WRITTEN}) n"
)
CREDITS = (
    "INSERT INTO attribution_credits (merchant_id, conversion_id, model, click_id, link_id, "
    "channel_account_id, channel_kind, product_id, weight, revenue_minor, occurred_at) "
    f"SELECT $1, $2, 'linear', 't' || n, $3, $4, 'telegram', NULL, 0.5, 250.0, $5 "
    f"FROM generate_series(1, {WRITTEN}) n"
)


async def blockers(
    observer: asyncpg.Connection, conn: asyncpg.Connection, running: asyncio.Task[str]
) -> set[int]:
    """The backends ``conn`` waits for while it runs ``running``; none if ``running`` ends
    without waiting. Fails after WAIT_S."""
    pid = conn.get_server_pid()
    for _ in range(int(WAIT_S / 0.02)):
        if running.done():
            running.result()
            return set()
        waiting = await observer.fetchval("SELECT pg_blocking_pids($1)", pid)
        if waiting:
            return set(waiting)
        await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} neither finished nor waited")


async def race(url: str, m: int, write: str, args: list[Any], *, zone_first: bool) -> bool:
    """The zone change and the writer, the one ``zone_first`` says first; the second runs
    while the first is open, which then commits, and then the second. Whether the second
    waited for the first."""
    z, t, observer = [await connect(url) for _ in range(3)]
    try:
        for conn in (z, t):
            await conn.execute("BEGIN; SET LOCAL lock_timeout = '20s'")
        statements: dict[asyncpg.Connection, tuple[str, list[Any]]] = {
            z: ("UPDATE merchants SET timezone = $1 WHERE id = $2", [ZONE, m]),
            t: (write, args),
        }
        first, second = (z, t) if zone_first else (t, z)
        sql, sql_args = statements[first]
        await first.execute(sql, *sql_args)
        sql, sql_args = statements[second]
        async with asyncio.timeout(3 * WAIT_S), asyncio.TaskGroup() as tasks:
            running = tasks.create_task(second.execute(sql, *sql_args))
            waited = await blockers(observer, second, running)
            assert waited in (set(), {first.get_server_pid()}), waited
            await first.execute("COMMIT")
        await second.execute("COMMIT")
        zones = await observer.fetch("SELECT timezone FROM merchants WHERE id = $1", m)
        assert [r[0] for r in zones] == [ZONE]
        return bool(waited)
    finally:
        for conn in (z, t, observer):
            await conn.close()


def assert_stranded(stored: Rows, expected: Rows) -> None:
    """The writer's rows stayed under OLD_ZONE: every rollup in a zone counts them there, and
    its rows in ZONE miss them; the rest is as expected."""
    for table in stored:
        if table == "click_buckets":  # UTC buckets: no zone to miss
            assert stored[table] == expected[table]
            continue
        old = {k: v for k, v in stored[table].items() if k[1] == OLD_ZONE}
        assert [k[1] for k in old] == [OLD_ZONE], (table, old)  # one row: its day or week
        assert next(iter(old.values()))[0] == WRITTEN, (table, old)
        assert stored[table] != expected[table], table


REVISIONS = [pytest.param("0010", id="0010-unfixed"), pytest.param("0011", id="0011")]


@pytest.mark.parametrize("zone_first", [True, False], ids=["zone-first", "writer-first"])
@pytest.mark.parametrize("kind", ["clicks", "credits"])
@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_writer_and_a_zone_change_wait_for_each_other(
    database: str, db_sessions: SessionFactory, revision: str, kind: str, zone_first: bool
) -> None:
    """Zone first: Z changes the zone (uncommitted), T writes; T's trigger waits for Z, then
    reads the new zone. Writer first: T writes (uncommitted), Z changes the zone; Z waits for
    T, and its rebuild counts T's rows. At 0010 neither waited, and T's rows were stranded
    under the old zone."""
    await migrate(database, revision)
    m, write, args = await seed(db_sessions, kind)
    fixed = revision != "0010"

    assert await race(database, m, write, args, zone_first=zone_first) == fixed

    conn = await connect(database)
    try:
        stored, expected = await rollups(conn, kind)
    finally:
        await conn.close()
    if fixed:
        assert stored == expected
    else:
        assert_stranded(stored, expected)
    counted = sum(v[0] for v in expected[next(iter(expected))].values())
    assert counted == (3 if kind == "clicks" else 1) + WRITTEN  # the history and the race


TAKEN = {
    "clicks": "DELETE FROM clicks WHERE merchant_id = $1 AND click_id = 'h0'",
    "credits": "UPDATE attribution_credits SET revenue_minor = revenue_minor - 100 "
    "WHERE merchant_id = $1",
}


@pytest.mark.parametrize("kind", ["clicks", "credits"])
@pytest.mark.parametrize("revision", REVISIONS)
async def test_rows_taken_back_during_a_zone_change_leave_the_new_zone(
    database: str, db_sessions: SessionFactory, revision: str, kind: str
) -> None:
    """Z changes the zone (uncommitted); T deletes a click or refunds a credit stored before.
    T locks the merchants of its old rows too, waits for Z and takes them back from the new
    zone's rows. At 0010 T waited too, but only in its first day rollup's statement, for the
    old zone's row Z had deleted; that statement had read the old zone, so it wrote the
    taking back under the old zone (a row of -1 clicks, or of no credits and -100 revenue)
    and the new zone's day kept the click or the revenue (the later statements read the new
    zone)."""
    await migrate(database, revision)
    m, _, _ = await seed(db_sessions, kind)

    assert await race(database, m, TAKEN[kind], [m], zone_first=True)

    conn = await connect(database)
    try:
        stored, expected = await rollups(conn, kind)
    finally:
        await conn.close()
    days = "click_days" if kind == "clicks" else "credit_days"  # its first zoned rollup
    wrong = {t for t in stored if stored[t] != expected[t]}
    assert wrong == (set() if revision != "0010" else {days}), stored
    if wrong:
        assert [k[1] for k in stored[days]].count(OLD_ZONE) == 1, stored[days]


# The migration up and down ----------------------------------------------------------------
