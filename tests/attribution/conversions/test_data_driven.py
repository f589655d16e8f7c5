"""The data-driven batch (Markov, Shapley) per merchant, on SQL rows the edge would write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from attribution.conversions import attribute_data_driven
from attribution.conversions.ingest import record_order
from attribution.conversions.journeys import merchant_population
from attribution.conversions.orders import Order
from hub.config import AttributionSettings
from hub.storage.db import SessionFactory
from hub.storage.models import AttributionCredit, Click
from tests.attribution.conversions._seed import add_channel, add_click, add_merchant

NOW = datetime.now(UTC).replace(microsecond=0)


def _order(order_id: str, visitor: str, at: datetime, amount: int = 10000) -> Order:
    return Order(order_id, amount, 0, "USD", at, "placed", None, visitor, None, (), "api")


async def test_markov_and_shapley_batch(sessions: SessionFactory) -> None:
    a = await add_merchant(sessions, "A")
    b = await add_merchant(sessions, "B")
    tg = await add_channel(sessions, a, "telegram")
    dc = await add_channel(sessions, a, "discord")
    ma = await add_channel(sessions, a, "mastodon")
    other = await add_channel(sessions, b, "slack")
    day = timedelta(days=1)
    c1 = await add_click(sessions, a, tg, NOW - 5 * day, visitor_id="v1")
    c2 = await add_click(sessions, a, dc, NOW - 4 * day, visitor_id="v1")
    c3 = await add_click(sessions, a, dc, NOW - 4 * day, visitor_id="v2")
    await add_click(sessions, a, tg, NOW - 3 * day, visitor_id="v3")
    await add_click(sessions, a, ma, NOW - 3 * day, visitor_id="v4")
    await add_click(sessions, a, ma, NOW - 3 * day, visitor_id="v4", is_bot=True)
    # merchant B: the same visitor id string, its own channel and conversion
    await add_click(sessions, b, other, NOW - 4 * day, visitor_id="v1")
    async with sessions() as session:
        one = await record_order(session, a, _order("1", "v1", NOW - 3 * day), NOW)
        two = await record_order(session, a, _order("2", "v2", NOW - 3 * day), NOW)
        await record_order(session, b, _order("1", "v1", NOW - 3 * day), NOW)
        await session.commit()

    cfg = AttributionSettings()
    async with sessions() as session:
        population = await merchant_population(
            session,
            a,
            since=NOW - 90 * day,
            until=NOW,
            lookback=30 * day,
            mode="kind",
            max_conversions=100,
            max_paths=100,
        )
    assert [j.conversion_id for j in population.journeys] == [
        str(one.conversion_id),
        str(two.conversion_id),
    ]
    assert population.non_converting_paths == [["telegram"], ["mastodon"]]

    async with sessions() as session:
        assert await attribute_data_driven(session, cfg, a, NOW) == 2
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(AttributionCredit).where(AttributionCredit.merchant_id == a)
            )
        ).all()
        a_clicks = set(
            (await session.scalars(select(Click.click_id).where(Click.merchant_id == a))).all()
        )
    assert {r.model for r in rows} == {"markov", "shapley"}
    assert {r.click_id for r in rows} <= a_clicks
    markov = {(r.conversion_id, r.click_id): r.weight for r in rows if r.model == "markov"}
    # order 1: P(conv) = 1/2; without telegram 1/4 (effect 1/2), without discord 0 (effect 1)
    assert markov == {
        (one.conversion_id, c1): pytest.approx(1 / 3),
        (one.conversion_id, c2): pytest.approx(2 / 3),
        (two.conversion_id, c3): pytest.approx(1.0),
    }
    for model in ("markov", "shapley"):
        for conv in (one.conversion_id, two.conversion_id):
            got = [r for r in rows if r.model == model and r.conversion_id == conv]
            assert sum(r.weight for r in got) == pytest.approx(1.0)
            assert sum(r.revenue_minor for r in got) == pytest.approx(10000)
    # running it again replaces, never adds
    async with sessions() as session:
        await attribute_data_driven(session, cfg, a, NOW)
    async with sessions() as session:
        again = (
            await session.scalars(
                select(AttributionCredit).where(AttributionCredit.merchant_id == a)
            )
        ).all()
    assert len(again) == len(rows)
    async with sessions() as session:  # merchant B's batch sees only B
        assert await attribute_data_driven(session, cfg, b, NOW) == 1
        b_rows = (
            await session.scalars(
                select(AttributionCredit).where(AttributionCredit.merchant_id == b)
            )
        ).all()
    assert {r.channel_kind for r in b_rows} == {"slack"}


def test_public_names_and_jobs() -> None:
    import attribution.conversions as conversions
    import attribution.reports as reports
    from hub.tasks.registry import all_jobs

    assert conversions.__all__ == sorted(conversions.__all__, key=lambda n: (not n.isupper(), n))
    for package in (conversions, reports):
        assert all(hasattr(package, name) for name in package.__all__)
    assert set(reports.__all__) >= {"Period", "report", "compare_models", "report_csv"}
    jobs = all_jobs()
    assert jobs["attribution.attribute_conversion"].queue == "attribution"
    assert jobs["attribution.scan_due"].every_s == 30.0
    assert jobs["attribution.data_driven_scan"].every_s == 3600.0
    assert jobs["attribution.data_driven"].queue == "attribution"
