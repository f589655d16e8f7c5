"""``click_buckets`` and ``click_days`` against the click rows: the same report numbers, in
every kind of zone.

Clicks are written the ways clicks get written — the drain's ``store_events`` in batches
(one replayed), plain ORM inserts, an update, deletes and a deleted link — at times on
5-minute steps, so that many fall exactly on bucket boundaries, on local midnights and on
the instants zones change their offset; the merchant's time zone changes halfway. Then
every report is computed from each source (the local days on PostgreSQL, the buckets, the
click rows), and all are checked against the click rows read back and counted in Python
with ``zoneinfo``.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from attribution.clicks import Click, MemoryUniqueGate, store_events
from attribution.reports import DIMENSIONS, Period, report
from attribution.reports.queries import ClickSource, click_columns
from attribution.reports.series import daily_series
from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.storage.models import BUCKET_S, ClickBucket, ClickDay, Link, Merchant
from hub.storage.models import Click as ClickRow
from hub.tenancy import create_merchant
from tests.attribution.conversions._seed import Channel, add_campaign, add_channel, add_product
from tests.conftest import SECRET

# Whole-hour, half-hour and 45-minute offsets; daylight saving of one hour and of half an
# hour; zones that change at local midnight (Santiago, Beirut) and at 02:45 (Chatham).
ZONES = [
    "UTC",
    "America/New_York",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Asia/Beirut",
]
FIRST, LAST = date(2026, 3, 1), date(2026, 4, 10)



def transitions() -> list[datetime]:
    """The UTC instants in FIRST..LAST at which one of ZONES changes its offset."""
    found = []
    at = datetime.combine(FIRST, datetime.min.time(), UTC) - timedelta(days=1)
    end = datetime.combine(LAST, datetime.min.time(), UTC) + timedelta(days=2)
    while at < end:
        for zone in ZONES:
            z, later = ZoneInfo(zone), at + timedelta(minutes=15)
            if at.astimezone(z).utcoffset() != later.astimezone(z).utcoffset():
                found.append(later)
        at += timedelta(minutes=15)
    return found


async def seed(sessions: SessionFactory, zone: str) -> tuple[int, list[Channel]]:
    """The shop starts in UTC and moves to ``zone`` halfway through its clicks."""
    async with sessions() as session:
        shop = await create_merchant(
            session, Vault(SECRET), name="Shop", storefront_url="https://shop.test/"
        )
        other = await create_merchant(
            session, Vault(SECRET), name="Other", storefront_url="https://other.test/"
        )
        await session.commit()
    m = shop.merchant_id
    mug = await add_product(sessions, m, "Mug")
    spring = await add_campaign(sessions, m, "Spring")
    channels = [
        await add_channel(sessions, m, "telegram", product_id=mug, campaign_id=spring),
        await add_channel(sessions, m, "telegram", name="TG two", product_id=mug),
        await add_channel(sessions, m, "discord", campaign_id=spring),
        await add_channel(sessions, m, "mastodon"),
        await add_channel(sessions, m, "email"),  # its link is deleted below
    ]
    elsewhere = await add_channel(sessions, other.merchant_id, "telegram")

    rng = random.Random(8)
    start = datetime.combine(FIRST, datetime.min.time(), UTC) - timedelta(days=1)
    span_5min = (LAST - FIRST).days * 288 + 3 * 288
    times = [start + timedelta(minutes=5 * rng.randrange(span_5min)) for _ in range(900)]
    times += [t + timedelta(seconds=s) for t in transitions() for s in (-1, 0, 0, 1)]
    events = []
    for at in times:
        channel = rng.choice(channels)
        merchant = m
        if rng.random() < 0.1:
            channel, merchant = elsewhere, other.merchant_id
        bot = rng.random() < 0.08
        visitor = None if rng.random() < 0.03 else f"v{rng.randrange(40)}"
        events.append(
            Click(uuid.uuid4().hex, channel.link_id, merchant, visitor, at.timestamp(), bot,
                  None, "UA", None)
        )  # fmt: skip
    events.sort(key=lambda c: c.at)
    gate = MemoryUniqueGate(86_400)
    batches = [events[i : i + 97] for i in range(0, len(events), 97)]
    for i, batch in enumerate(batches):
        if i == len(batches) // 2:
            async with sessions() as session:
                await session.execute(
                    update(Merchant).where(Merchant.id == m).values(timezone=zone)
                )
                await session.commit()
        await store_events(sessions, batch, [], gate)
    await store_events(sessions, batches[3], [], gate)  # a replay after a crash: no change

    async with sessions() as session:
        # Another writer: plain ORM inserts (as a script or an import would).
        for i in range(30):
            session.add(
                ClickRow(
                    click_id=f"orm-{i}", merchant_id=m, link_id=channels[i % 4].link_id,
                    visitor_id=f"w{i % 7}", at=times[i * 7] + timedelta(seconds=i),
                    is_bot=i % 9 == 0, is_unique=i % 3 != 0,
                )
            )  # fmt: skip
        await session.flush()
        # A click moved to another link and time, a bot found to be a person, and the
        # reverse; a few clicks deleted; one link deleted with its clicks.
        ids = list(await session.scalars(select(ClickRow.id).order_by(ClickRow.id).limit(40)))
        await session.execute(
            update(ClickRow)
            .where(ClickRow.id == ids[0])
            .values(link_id=channels[3].link_id, at=times[5] + timedelta(hours=13, minutes=7))
        )
        await session.execute(
            update(ClickRow).where(ClickRow.id.in_(ids[1:20])).values(is_bot=~ClickRow.is_bot)
        )
        await session.execute(delete(ClickRow).where(ClickRow.id.in_(ids[20:30])))
        await session.execute(delete(Link).where(Link.id == channels[4].link_id))
        await session.commit()
    return m, channels[:4]


async def expected_clicks(
    sessions: SessionFactory, merchant_id: int, period: Period
) -> tuple[Counter[tuple[str, int]], Counter[tuple[str, int]]]:
    """Clicks and unique clicks per (local day, link) counted in Python from the rows."""
    clicks: Counter[tuple[str, int]] = Counter()
    unique: Counter[tuple[str, int]] = Counter()
    async with sessions() as session:
        rows = await session.execute(
            select(ClickRow.at, ClickRow.link_id, ClickRow.is_unique).where(
                ClickRow.merchant_id == merchant_id, ClickRow.is_bot.is_(False)
            )
        )
        for at, link_id, is_unique in rows:
            if period.start <= at < period.end:
                key = (at.astimezone(period.zone).date().isoformat(), link_id)
                clicks[key] += 1
                unique[key] += int(is_unique)
    return clicks, unique


async def test_buckets_and_days_equal_the_clicks_they_cover(sessions: SessionFactory) -> None:
    await seed(sessions, "Asia/Kathmandu")
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        buckets = {
            (r.merchant_id, int(r.bucket_at.timestamp()), r.link_id): (r.clicks, r.unique_clicks)
            for r in (await session.scalars(select(ClickBucket))).all()
        }
        days = {
            (r.merchant_id, r.timezone, r.day, r.link_id): (r.clicks, r.unique_clicks)
            for r in (await session.scalars(select(ClickDay))).all()
        }
        zones = dict((await session.execute(select(Merchant.id, Merchant.timezone))).all())
        rows = (
            await session.execute(
                select(
                    ClickRow.merchant_id, ClickRow.at, ClickRow.link_id, ClickRow.is_unique
                ).where(ClickRow.is_bot.is_(False))
            )
        ).all()
    by_bucket: Counter[tuple[int, int, int]] = Counter()
    by_day: Counter[tuple[int, str, date, int]] = Counter()
    unique_by_bucket: Counter[tuple[int, int, int]] = Counter()
    unique_by_day: Counter[tuple[int, str, date, int]] = Counter()
    for merchant_id, at, link_id, is_unique in rows:
        bucket = (merchant_id, int(at.timestamp()) // BUCKET_S * BUCKET_S, link_id)
        zone = zones[merchant_id]
        day = (merchant_id, zone, at.astimezone(ZoneInfo(zone)).date(), link_id)
        by_bucket[bucket] += 1
        by_day[day] += 1
        unique_by_bucket[bucket] += int(is_unique)
        unique_by_day[day] += int(is_unique)
    assert buckets == {k: (n, unique_by_bucket[k]) for k, n in by_bucket.items()}
    assert sum(v[0] for v in buckets.values()) > 600
    if dialect == "postgresql":
        assert days == {k: (n, unique_by_day[k]) for k, n in by_day.items()}
    else:
        assert days == {}  # SQLite knows no zones: reports read the buckets there


@pytest.mark.parametrize("zone", ZONES)
async def test_reports_from_buckets_equal_reports_from_clicks(
    sessions: SessionFactory, zone: str
) -> None:
    m, channels = await seed(sessions, zone)
    period = Period(FIRST, LAST, zone)
    assert period.on_grid(BUCKET_S)
    clicks, unique = await expected_clicks(sessions, m, period)
    assert sum(clicks.values()) > 500 and sum(unique.values()) < sum(clicks.values())
    async with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        auto = await click_columns(session, m, period)
        assert auto.source == ("days" if postgres else "buckets")
        elsewhere = Period(FIRST, LAST, "Asia/Kathmandu" if zone == "UTC" else "UTC")
        assert (await click_columns(session, m, elsewhere)).source == "buckets"
        sources: list[ClickSource] = ["days", "buckets"] if postgres else ["buckets"]
        for dimension in DIMENSIONS:
            from_rows = await report(session, m, dimension, "linear", period, clicks_from="clicks")
            for source in sources:
                found = await report(session, m, dimension, "linear", period, clicks_from=source)
                assert found == from_rows, (dimension, source)
        total = from_rows.total
        assert (total.clicks, total.unique_clicks) == (
            sum(clicks.values()),
            sum(unique.values()),
        )
        by_day = await report(session, m, "day", "linear", period, clicks_from="buckets")
        for row in by_day.rows:
            assert (row.clicks, row.unique_clicks) == (
                sum(n for (d, _), n in clicks.items() if d == row.key),
                sum(n for (d, _), n in unique.items() if d == row.key),
            ), row.key
        by_link = await report(session, m, "link", "linear", period)
        assert {r.key: (r.clicks, r.unique_clicks) for r in by_link.rows} == {
            c.link_id: (
                sum(n for (_, link), n in clicks.items() if link == c.link_id),
                sum(n for (_, link), n in unique.items() if link == c.link_id),
            )
            for c in channels
        }
        series = await daily_series(session, m, "linear", period, "USD", clicks_from="clicks")
        for source in sources:
            same = await daily_series(session, m, "linear", period, "USD", clicks_from=source)
            assert same == series, source
        assert sum(sum(c.clicks) for c in series.channels) == total.clicks


async def test_periods_off_the_grid_are_counted_from_the_clicks(
    sessions: SessionFactory,
) -> None:
    m, _ = await seed(sessions, "UTC")
    # Kathmandu kept local mean time (+05:41:16) until 1920: its days then began off the grid.
    old = Period(date(1901, 1, 1), date(1901, 1, 3), "Asia/Kathmandu")
    assert not old.on_grid(BUCKET_S)
    async with sessions() as session:
        assert (await report(session, m, "day", "linear", old)).total.clicks == 0
        with pytest.raises(ValueError, match="bucket"):
            await report(session, m, "day", "linear", old, clicks_from="buckets")
        with pytest.raises(ValueError, match="zone"):
            await report(session, m, "day", "linear", old, clicks_from="days")
