"""``credit_days``, ``credit_product_days`` and ``credit_link_days`` against the credits:
the same report numbers, in every kind of zone.

Credits are written the ways credits get written — the attribution job's ``replace_credits``
(first run and re-attribution), plain ORM inserts, a refund's update of the revenue, a
currency corrected on the conversion, deletes of a cancelled order's credits and a deleted
conversion's cascade — for conversions at times on 5-minute steps and on the instants zones
change their offset; the merchant's time zone changes halfway. Then the rollups are checked
row by row against the credits grouped in Python with ``zoneinfo``, and every report is
computed from each source (the rollups on PostgreSQL, the credits) and compared.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from attribution.conversions.credits import replace_credits
from attribution.reports import DIMENSIONS, Figures, Period, Window, compare_models, report
from attribution.reports.queries import credit_source
from attribution.reports.series import daily_series
from hub.money import from_minor
from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.storage.models import (
    ROLLUP_MODELS,
    AttributionCredit,
    Conversion,
    CreditDay,
    CreditLinkDay,
    CreditProductDay,
    Merchant,
)
from hub.tenancy import create_merchant
from tests.attribution.conversions._seed import Channel, add_campaign, add_channel, add_product
from tests.attribution.reports.test_click_buckets import FIRST, LAST, transitions
from tests.conftest import SECRET

MODELS = ["linear", "first_touch", "time_decay"]


def credits_for(
    rng: random.Random,
    merchant_id: int,
    conversion: Conversion,
    channels: list[Channel | None],
    products: list[int | None],
    link_campaigns: dict[int, int | None],
) -> list[dict[str, Any]]:
    """Credits of MODELS over one to three touches (None: a touch with no link), split over
    one or two products, as ``credit_rows`` makes them."""
    touches = [rng.choice(channels) for _ in range(rng.randint(1, 3))]
    shares = [(rng.choice(products), 1.0)]
    if len(products) > 1 and rng.random() < 0.4:
        shares = [(products[0], 0.3), (rng.choice(products[1:]), 0.7)]
    net = conversion.amount_minor - conversion.refunded_minor
    rows = []
    for model in MODELS:
        if model == "linear":
            weights = [1 / len(touches)] * len(touches)
        elif model == "first_touch":
            weights = [1.0] + [0.0] * (len(touches) - 1)
        else:
            raw = [rng.random() + 0.1 for _ in touches]
            weights = [w / sum(raw) for w in raw]
        for i, (touch, weight) in enumerate(zip(touches, weights, strict=True)):
            if weight == 0:
                continue
            for product_id, share in shares:
                rows.append(
                    {
                        "merchant_id": merchant_id,
                        "conversion_id": conversion.id,
                        "model": model,
                        "click_id": f"c{conversion.id}-{i}",
                        "link_id": touch.link_id if touch else None,
                        "channel_account_id": touch.account_id if touch else None,
                        "channel_kind": touch.kind if touch else None,
                        "campaign_id": link_campaigns[touch.link_id] if touch else None,
                        "product_id": product_id,
                        "weight": weight * share,
                        "revenue_minor": weight * share * net,
                        "occurred_at": conversion.occurred_at,
                    }
                )
    return rows


async def seed(sessions: SessionFactory, zone: str) -> int:
    """The shop starts in UTC and moves to ``zone`` halfway through its conversions."""
    async with sessions() as session:
        shop = await create_merchant(
            session, Vault(SECRET), name="Shop", storefront_url="https://shop.test/"
        )
        other = await create_merchant(
            session, Vault(SECRET), name="Other", storefront_url="https://other.test/"
        )
        await session.commit()
    m = shop.merchant_id
    mug, cup = await add_product(sessions, m, "Mug"), await add_product(sessions, m, "Cup")
    spring = await add_campaign(sessions, m, "Spring")
    telegram = await add_channel(sessions, m, "telegram", product_id=mug, campaign_id=spring)
    second = await add_channel(sessions, m, "telegram", name="TG two", product_id=mug)
    discord = await add_channel(sessions, m, "discord", campaign_id=spring)
    mastodon = await add_channel(sessions, m, "mastodon")
    elsewhere = await add_channel(sessions, other.merchant_id, "telegram")
    campaigns = {
        telegram.link_id: spring,
        second.link_id: None,
        discord.link_id: spring,
        mastodon.link_id: None,
        elsewhere.link_id: None,
    }
    ours: list[Channel | None] = [telegram, second, discord, mastodon, None]

    rng = random.Random(8)
    start = datetime.combine(FIRST, datetime.min.time(), UTC) - timedelta(days=1)
    span_5min = (LAST - FIRST).days * 288 + 3 * 288
    times = [start + timedelta(minutes=5 * rng.randrange(span_5min)) for _ in range(160)]
    times += [t + timedelta(seconds=s) for t in transitions()[::3] for s in (-1, 0)]
    times.sort()
    batches = [times[i : i + 23] for i in range(0, len(times), 23)]
    order = 0
    for b, batch in enumerate(batches):
        if b == len(batches) // 2:
            async with sessions() as session:
                await session.execute(
                    update(Merchant).where(Merchant.id == m).values(timezone=zone)
                )
                await session.commit()
        async with sessions() as session:
            made = []
            for at in batch:
                order += 1
                foreign = rng.random() < 0.1
                conversion = Conversion(
                    merchant_id=other.merchant_id if foreign else m,
                    order_id=f"o{order}",
                    amount_minor=rng.randrange(100, 50_000),
                    refunded_minor=0,
                    currency="EUR" if rng.random() < 0.2 else "USD",
                    occurred_at=at,
                )
                session.add(conversion)
                made.append(conversion)
            await session.flush()
            rows = []
            for conversion in made:
                if conversion.merchant_id == m:
                    rows += credits_for(rng, m, conversion, ours, [mug, cup, None], campaigns)
                else:
                    rows += credits_for(
                        rng, conversion.merchant_id, conversion, [elsewhere], [None], campaigns
                    )
            if b % 3 == 2:  # another writer: plain ORM inserts
                session.add_all(AttributionCredit(**row) for row in rows)
            else:
                await replace_credits(session, [c.id for c in made], MODELS, rows)
            await session.commit()

    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(Conversion.id).where(Conversion.merchant_id == m).order_by(Conversion.id)
            )
        )
        # Re-attribution: new touches and weights for some conversions, in one statement each.
        again = await session.scalars(select(Conversion).where(Conversion.id.in_(ids[5:40:3])))
        for conversion in again:
            rows = credits_for(rng, m, conversion, ours, [mug, cup, None], campaigns)
            await replace_credits(session, [conversion.id], MODELS, rows)
        # A refund: the credited revenue follows the net amount.
        for cid in ids[40:50]:
            await session.execute(
                update(Conversion).where(Conversion.id == cid).values(refunded_minor=50)
            )
            net = await session.scalar(
                select(Conversion.amount_minor - Conversion.refunded_minor).where(
                    Conversion.id == cid
                )
            )
            await session.execute(
                update(AttributionCredit)
                .where(AttributionCredit.conversion_id == cid)
                .values(revenue_minor=AttributionCredit.weight * net)
            )
        # A currency corrected on the conversion (copied to its credits by a trigger).
        await session.execute(
            update(Conversion).where(Conversion.id.in_(ids[50:60])).values(currency="JPY")
        )
        # A cancelled order's credits deleted; a deleted conversion's credits go with it.
        await session.execute(
            delete(AttributionCredit).where(AttributionCredit.conversion_id.in_(ids[60:70]))
        )
        await session.execute(delete(Conversion).where(Conversion.id.in_(ids[70:80])))
        await session.commit()
    return m


Key = tuple[Any, ...]


# table → the key of a credit's row after merchant, zone, model and day
ROLLUPS: dict[str, Callable[[Any], Key]] = {
    "credit_days": lambda c: (
        c.channel_kind or "",
        c.channel_account_id or 0,
        c.campaign_id or 0,
        c.currency or "",
    ),
    "credit_product_days": lambda c: (c.product_id or 0, c.currency or ""),
    "credit_link_days": lambda c: (c.link_id or 0, c.currency or ""),
}
TABLES: dict[str, Any] = {
    "credit_days": CreditDay,
    "credit_product_days": CreditProductDay,
    "credit_link_days": CreditLinkDay,
}
Sums = dict[Key, tuple[int, float, float]]


async def expected_rollups(sessions: SessionFactory) -> dict[str, Sums]:
    """Each rollup as grouped in Python from the credits."""
    sums: dict[str, dict[Key, list[Any]]] = {t: defaultdict(lambda: [0, 0.0, 0.0]) for t in ROLLUPS}
    async with sessions() as session:
        zones = dict((await session.execute(select(Merchant.id, Merchant.timezone))).all())
        for c in await session.scalars(select(AttributionCredit)):
            zone = zones[c.merchant_id]
            head = (c.merchant_id, zone, c.model, c.occurred_at.astimezone(ZoneInfo(zone)).date())
            for table, key in ROLLUPS.items():
                row = sums[table][head + key(c)]
                row[0] += 1
                row[1] += c.weight
                row[2] += c.revenue_minor
    return {t: {k: (v[0], v[1], v[2]) for k, v in rows.items()} for t, rows in sums.items()}


async def stored_rollups(sessions: SessionFactory) -> dict[str, Sums]:
    """Each rollup as stored, a row per model that has credits in it, keyed as
    :func:`expected_rollups` keys it; a row's ``credits`` are its models' credits."""
    found: dict[str, Sums] = {}
    async with sessions() as session:
        for table, rollup in TABLES.items():
            found[table] = {}
            for r in await session.scalars(select(rollup)):
                per_model = {m: getattr(r, f"{m}_credits") for m in ROLLUP_MODELS}
                assert r.credits == sum(per_model.values()) > 0, (table, r.day)
                for m, credits in per_model.items():
                    if credits:
                        key = (r.merchant_id, r.timezone, m, r.day) + ROLLUPS[table](r)
                        found[table][key] = (
                            credits, getattr(r, f"{m}_weight"), getattr(r, f"{m}_revenue_minor")
                        )  # fmt: skip
    return found


def assert_sums_equal(found: dict[Key, Any], expected: dict[Key, Any]) -> None:
    assert set(found) == set(expected)
    for key, (credits, weight, revenue) in expected.items():
        assert found[key][0] == credits, key
        assert math.isclose(found[key][1], weight, rel_tol=1e-9, abs_tol=1e-9), key
        assert math.isclose(found[key][2], revenue, rel_tol=1e-9, abs_tol=1e-6), key


async def test_rollups_equal_the_credits_they_cover(sessions: SessionFactory) -> None:
    await seed(sessions, "Asia/Kathmandu")
    expected = await expected_rollups(sessions)
    found = await stored_rollups(sessions)
    async with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        currencies = set(await session.scalars(select(AttributionCredit.currency).distinct()))
    assert currencies == {"USD", "EUR", "JPY"}
    credits = sum(v[0] for v in expected["credit_days"].values())
    assert credits > 500
    for table in ROLLUPS:
        if postgres:
            assert_sums_equal(found[table], expected[table])
            assert len(found[table]) < credits, table
        else:
            assert found[table] == {}  # reports sum the credits there


def assert_figures_equal(found: Figures, expected: Figures, where: object) -> None:
    """Equal up to the order of double-precision sums: the weight to 1e-9, the revenue to
    the minor unit (a sum a hair either side of a half rounds either way)."""
    assert math.isclose(found.conversions, expected.conversions, abs_tol=1e-9), where
    assert set(found.revenue) == set(expected.revenue), where
    for currency, amount in expected.revenue.items():
        assert abs(found.revenue[currency] - amount) <= from_minor(1, currency), (where, currency)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham"])
async def test_reports_from_rollups_equal_reports_from_credits(
    sessions: SessionFactory, zone: str
) -> None:
    m = await seed(sessions, zone)
    period = Period(FIRST, LAST, zone)
    elsewhere = Period(FIRST, LAST, "Asia/Kathmandu" if zone == "UTC" else "UTC")
    async with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        assert await credit_source(session, m, period) == ("days" if postgres else "credits")
        assert await credit_source(session, m, elsewhere) == "credits"
        if not postgres:
            with pytest.raises(ValueError, match="zone"):
                await report(session, m, "day", "linear", period, credits_from="days")
            return
        with pytest.raises(ValueError, match="zone"):
            await report(session, m, "day", "linear", elsewhere, credits_from="days")
        credited = 0
        for dimension in DIMENSIONS:
            raw = await report(session, m, dimension, "linear", period, credits_from="credits")
            found = await report(session, m, dimension, "linear", period, credits_from="days")
            assert [(r.key, r.label, r.clicks) for r in found.rows] == [
                (r.key, r.label, r.clicks) for r in raw.rows
            ], dimension
            for a, b in zip(found.rows, raw.rows, strict=True):
                assert_figures_equal(a.figures, b.figures, (dimension, a.key))
            assert_figures_equal(found.total.figures, raw.total.figures, dimension)
            credited += sum(1 for r in found.rows if r.figures.conversions)

            raw_cmp = await compare_models(
                session, m, dimension, MODELS, period, credits_from="credits"
            )
            cmp = await compare_models(session, m, dimension, MODELS, period, credits_from="days")
            assert [(k, label) for k, label, _ in cmp.rows] == [
                (k, label) for k, label, _ in raw_cmp.rows
            ]
            for (key, _, figures), (_, _, raw_figures) in zip(cmp.rows, raw_cmp.rows, strict=True):
                for model in MODELS:
                    assert_figures_equal(figures[model], raw_figures[model], (dimension, key))
            for model in MODELS:
                assert_figures_equal(cmp.totals[model], raw_cmp.totals[model], model)
        assert credited > 20
        by_channel = await report(session, m, "channel", "linear", period)
        assert {r.key for r in by_channel.rows} == {"telegram", "discord", "mastodon", None}
        by_product = await report(session, m, "product", "linear", period)
        assert {r.label for r in by_product.rows} == {"Mug", "Cup", "(none)"}
        for currency in ("USD", "EUR", "JPY"):
            raw_series = await daily_series(
                session, m, "time_decay", period, currency, credits_from="credits"
            )
            series = await daily_series(
                session, m, "time_decay", period, currency, credits_from="days"
            )
            assert [c.channel for c in series.channels] == [c.channel for c in raw_series.channels]
            for line, raw_line in zip(series.channels, raw_series.channels, strict=True):
                pairs = zip(line.revenue, raw_line.revenue, strict=True)
                assert all(abs(x - y) <= from_minor(1, currency) for x, y in pairs), line.channel
            assert any(sum(c.revenue) for c in series.channels), currency


# Credit days are kept on PostgreSQL only (SQLite reports read raw credits).
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_zone_change_rebuilds_the_days(sessions: SessionFactory) -> None:
    m = await seed(sessions, "America/St_Johns")
    async with sessions() as session:
        assert session.get_bind().dialect.name == "postgresql"
        before = await report(session, m, "day", "linear", Period(FIRST, LAST, "America/St_Johns"))
        await session.execute(
            update(Merchant).where(Merchant.id == m).values(timezone="Australia/Lord_Howe")
        )
        await session.commit()
    expected = await expected_rollups(sessions)
    stored = await stored_rollups(sessions)
    period = Period(FIRST, LAST, "Australia/Lord_Howe")
    async with sessions() as session:
        zones = set(
            await session.scalars(select(CreditDay.timezone).where(CreditDay.merchant_id == m))
        )
        assert zones == {"Australia/Lord_Howe"}
        for table in ROLLUPS:
            assert_sums_equal(stored[table], expected[table])
        assert await credit_source(session, m, period) == "days"
        after = await report(session, m, "day", "linear", period, credits_from="days")
        raw = await report(session, m, "day", "linear", period, credits_from="credits")
        for a, b in zip(after.rows, raw.rows, strict=True):
            assert a.key == b.key
            assert_figures_equal(a.figures, b.figures, a.key)
        # The old zone's days are gone: that period is summed from the credits.
        old = Period(FIRST, LAST, "America/St_Johns")
        assert await credit_source(session, m, old) == "credits"
        again = await report(session, m, "day", "linear", old)
        for a, b in zip(again.rows, before.rows, strict=True):
            assert_figures_equal(a.figures, b.figures, a.key)


# "auto": the rollups on PostgreSQL, the credits on SQLite; "credits": the credits on both.
@pytest.mark.parametrize("credits_from", ["auto", "credits"])
async def test_a_comparisons_window_is_the_one_its_models_reports_give(
    sessions: SessionFactory, credits_from: Any
) -> None:
    """The database cuts a comparison's window; the same window worked out here from each
    model's own report (every row) must match: keys, order, figures, count and totals."""
    m = await seed(sessions, "Europe/Berlin")
    period = Period(FIRST, LAST, "Europe/Berlin")
    models = ["first_touch", "time_decay", "linear"]
    async with sessions() as session:
        # The lead model credits Telegram nothing: its ranking is unlike the others'.
        await session.execute(
            delete(AttributionCredit).where(
                AttributionCredit.model == models[0], AttributionCredit.channel_kind == "telegram"
            )
        )
        await session.commit()
    differs = 0  # dimensions where the lead model ranks keys unlike the models together
    async with sessions() as session:
        for dimension in ("channel", "account", "campaign", "product", "link"):
            full = {
                model: await report(session, m, dimension, model, period, credits_from=credits_from)
                for model in models
            }
            figures = {model: {r.key: r.figures for r in rep.rows} for model, rep in full.items()}
            # Every key any model credits, in key order (None last).
            keys = sorted(
                {
                    k
                    for model in models
                    for k, f in figures[model].items()
                    if f.conversions or f.revenue
                },
                key=lambda k: (k is None, k if k is not None else 0),
            )
            lead = figures[models[0]]
            by_all = sorted(
                keys, key=lambda k: -sum(figures[x].get(k, Figures()).conversions for x in models)
            )
            by_lead = sorted(keys, key=lambda k: -lead.get(k, Figures()).conversions)
            differs += by_all != by_lead
            for sort in ("key", "conversions", "revenue"):
                if sort == "conversions":
                    ordered = sorted(keys, key=lambda k: -lead.get(k, Figures()).conversions)
                elif sort == "revenue":
                    ordered = sorted(
                        keys, key=lambda k: -lead.get(k, Figures()).revenue.get("EUR", Decimal(0))
                    )
                else:
                    ordered = keys
                for offset, limit in ((0, None), (0, 2), (1, 2), (len(keys) - 1, 5)):
                    window = Window(sort, offset, limit, "EUR")
                    cmp = await compare_models(
                        session, m, dimension, models, period, window, credits_from=credits_from
                    )
                    end = None if limit is None else offset + limit
                    where = (dimension, sort, offset, limit)
                    assert [k for k, _, _ in cmp.rows] == ordered[offset:end], where
                    assert cmp.count == len(keys), where
                    for k, _, figs in cmp.rows:
                        for model in models:
                            assert_figures_equal(
                                figs[model], figures[model].get(k, Figures()), (where, k, model)
                            )
                    for model in models:
                        assert_figures_equal(cmp.totals[model], full[model].total.figures, model)
    assert differs  # so that sorting by the lead model is told apart
