"""The weekly rollups (migration 0009) stay equal to their day rollups summed per local week,
whatever writes clicks and credits, and reports read whole weeks from them (PostgreSQL only,
like the day rollups they are kept from)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from attribution.models import MODELS
from attribution.reports import DIMENSIONS, Period, compare_models, report
from attribution.reports.queries import click_columns
from hub.storage.db import SessionFactory
from hub.storage.models import ROLLUP_MODELS, Click, Link, Merchant
from tests.attribution.reports.test_click_buckets import FIRST, LAST
from tests.attribution.reports.test_credit_days import assert_figures_equal, seed

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

# week table → day table, keys (``day`` is summed to its Monday), sums
CREDIT_SUMS = [
    "credits",
    *(f"{m}_{f}" for m in ROLLUP_MODELS for f in ("credits", "weight", "revenue_minor")),
]
WEEKS = {
    "click_weeks": ("click_days", ["merchant_id", "timezone", "day", "link_id"],
                    ["clicks", "unique_clicks"]),
    "credit_weeks": ("credit_days",
                     ["merchant_id", "timezone", "day", "channel_kind", "channel_account_id",
                      "campaign_id", "currency"],
                     CREDIT_SUMS),
    "credit_product_weeks": ("credit_product_days",
                             ["merchant_id", "timezone", "day", "product_id", "currency"],
                             CREDIT_SUMS),
    "credit_link_weeks": ("credit_link_days",
                          ["merchant_id", "timezone", "day", "link_id", "currency"],
                          CREDIT_SUMS),
}  # fmt: skip


async def weeks_of(sessions: SessionFactory, table: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(stored weeks, the day rows summed per Monday), keyed alike."""
    days, keys, sums = WEEKS[table]
    head = ", ".join("date_trunc('week', day)::date" if k == "day" else k for k in keys)
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    async with sessions() as session:
        stored = (
            await session.execute(text(f"SELECT {', '.join(keys + sums)} FROM {table}"))
        ).all()
        summed = (
            await session.execute(
                text(
                    f"SELECT {head}, {', '.join(f'sum({s})' for s in sums)} FROM {days} "
                    f"GROUP BY {group}"
                )
            )
        ).all()
    n = len(keys)
    return {tuple(r[:n]): tuple(r[n:]) for r in stored}, {
        tuple(r[:n]): tuple(r[n:]) for r in summed
    }


async def assert_weeks_follow_days(sessions: SessionFactory) -> int:
    """Every week table equals its day table summed per week; returns the week rows."""
    rows = 0
    for table in WEEKS:
        stored, expected = await weeks_of(sessions, table)
        assert set(stored) == set(expected), table
        for key, sums in expected.items():
            assert key[WEEKS[table][1].index("day")].weekday() == 0
            assert stored[key][0] == sums[0], (table, key)
            for a, b in zip(stored[key][1:], sums[1:], strict=True):
                assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6), (table, key)
        rows += len(stored)
    return rows


async def add_clicks(sessions: SessionFactory, m: int, count: int, rng: random.Random) -> None:
    async with sessions() as session:
        links = list(await session.scalars(select(Link.id).where(Link.merchant_id == m)))
        start = datetime.combine(FIRST, datetime.min.time(), UTC)
        minutes = (LAST - FIRST).days * 24 * 60
        for n in range(count):
            session.add(
                Click(
                    click_id=f"w-{m}-{n}-{rng.random()}",
                    merchant_id=m,
                    link_id=rng.choice(links),
                    visitor_id=f"v{rng.randrange(40)}",
                    at=start + timedelta(minutes=rng.randrange(minutes)),
                    is_bot=rng.random() < 0.05,
                    is_unique=rng.random() < 0.5,
                )
            )
        await session.commit()


async def test_weeks_follow_every_write_of_the_days(sessions: SessionFactory) -> None:
    # Re-attributions, refunds, currency corrections and deletes of credits (the seed).
    m = await seed(sessions, "Asia/Kathmandu")
    rng = random.Random(9)
    await add_clicks(sessions, m, 400, rng)
    assert await assert_weeks_follow_days(sessions) > 30

    async with sessions() as session:
        # Clicks moved to another day and link, flagged as bots, deleted.
        ids = list(await session.scalars(select(Click.id).where(Click.merchant_id == m)))
        await session.execute(
            text("UPDATE clicks SET at = at + interval '3 days', link_id = :link "
                 "WHERE id = ANY(:ids)"),
            {"ids": ids[:40], "link": await session.scalar(select(func.max(Link.id)))},
        )  # fmt: skip
        await session.execute(update(Click).where(Click.id.in_(ids[40:60])).values(is_bot=True))
        await session.execute(delete(Click).where(Click.id.in_(ids[60:90])))
        await session.commit()
    await assert_weeks_follow_days(sessions)

    async with sessions() as session:
        # A link deleted: its clicks and day rows go by cascade, and its weeks with them.
        link = await session.scalar(
            select(Link.id).where(Link.merchant_id == m).order_by(Link.id).limit(1)
        )
        await session.execute(delete(Link).where(Link.id == link))
        await session.commit()
    await assert_weeks_follow_days(sessions)
    stored, _ = await weeks_of(sessions, "click_weeks")
    assert all(key[3] != link for key in stored)

    async with sessions() as session:
        # A zone change rebuilds the days, and so the weeks (Mondays in the new zone).
        await session.execute(
            update(Merchant).where(Merchant.id == m).values(timezone="Pacific/Chatham")
        )
        await session.commit()
    await assert_weeks_follow_days(sessions)
    stored, _ = await weeks_of(sessions, "credit_product_weeks")
    assert {key[1] for key in stored if key[0] == m} == {"Pacific/Chatham"}

    async with sessions() as session:
        await session.execute(text("TRUNCATE clicks"))
        await session.commit()
    assert (await weeks_of(sessions, "click_weeks"))[0] == {}
    assert (await weeks_of(sessions, "credit_link_weeks"))[0] != {}
    async with sessions() as session:
        await session.execute(text("TRUNCATE attribution_credits"))
        await session.commit()
    assert await assert_weeks_follow_days(sessions) == 0


async def test_reports_read_whole_weeks_and_equal_the_raw_rows(sessions: SessionFactory) -> None:
    m = await seed(sessions, "America/New_York")
    await add_clicks(sessions, m, 300, random.Random(10))
    zone = "America/New_York"
    async with sessions() as session:
        # Periods with no whole week, one, and whole weeks with days on either side.
        for first, last in (
            (date(2026, 3, 3), date(2026, 3, 7)),
            (date(2026, 3, 9), date(2026, 3, 15)),
            (FIRST, LAST),
            (date(2026, 3, 4), date(2026, 3, 29)),
        ):
            period = Period(first, last, zone)
            weekly = len(period.spans()) > 1 or period.spans()[0].weeks
            cols = await click_columns(session, m, period, per_day=False)
            sql = str(select(cols.clicks).compile())
            assert ("click_weeks" in sql) == weekly, (first, last)
            for dimension in DIMENSIONS:
                found = await report(session, m, dimension, "linear", period)
                raw = await report(
                    session, m, dimension, "linear", period,
                    clicks_from="clicks", credits_from="credits",
                )  # fmt: skip
                assert [(r.key, r.clicks, r.unique_clicks) for r in found.rows] == [
                    (r.key, r.clicks, r.unique_clicks) for r in raw.rows
                ], (dimension, first, last)
                for a, b in zip(found.rows, raw.rows, strict=True):
                    assert_figures_equal(a.figures, b.figures, (dimension, a.key))
                assert (found.total.clicks, found.total.unique_clicks) == (
                    raw.total.clicks,
                    raw.total.unique_clicks,
                )
            for dimension in ("channel", "campaign", "product", "link"):
                cmp = await compare_models(session, m, dimension, list(MODELS), period)
                raw_cmp = await compare_models(
                    session, m, dimension, list(MODELS), period, credits_from="credits"
                )
                assert [k for k, _, _ in cmp.rows] == [k for k, _, _ in raw_cmp.rows]
                for (key, _, figs), (_, _, raw_figs) in zip(cmp.rows, raw_cmp.rows, strict=True):
                    for model in list(MODELS):
                        assert_figures_equal(figs[model], raw_figs[model], (dimension, key))
