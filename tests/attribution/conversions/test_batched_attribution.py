"""Rule-based attribution of many conversions at once gives what one at a time gives.

The same seeded data (two merchants; identity-linked visitors and customers; conversions with
no click, with only their own click, with another merchant's click; refunds, cancellations,
several currencies, line items naming known and unknown products; bot clicks and clicks
outside the lookback window) is attributed once conversion by conversion
(``attribute_conversion``) and once in chunks (``reattribute``, ``attribute_conversions``);
the stored credits, due times and results must be the same, to the last bit of every float.
The journeys are also checked against a per-conversion SQL query of the identity rule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ColumnElement, delete, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError

from attribution.conversions import attributing, recompute
from attribution.conversions.attributing import attribute_conversion, attribute_conversions
from attribution.conversions.ingest import record_order
from attribution.conversions.journeys import (
    Identified,
    Touch,
    conversion_journeys,
    load_conversions,
)
from attribution.conversions.orders import LineItem, Order
from attribution.conversions.recompute import RULE_BASED_PHASE, reattribute
from attribution.identity import link_visitor, upsert_customer
from hub.config import AttributionSettings
from hub.storage.db import SessionFactory
from hub.storage.models import AttributionCredit, Click, Conversion, Link, Visitor
from tests.attribution.conversions._seed import (
    Channel,
    add_campaign,
    add_channel,
    add_merchant,
    add_product,
)

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)
CONFIGS = {
    "defaults": AttributionSettings(),
    "accounts": AttributionSettings(
        lookback_days=10,
        channel_key="account",
        time_decay_half_life_days=1.5,
        position_first=0.3,
        position_last=0.5,
        settle_s=10 * 86_400,  # every conversion is still settling: a next due time is set
    ),
}
CREDIT_COLUMNS = [
    c for c in AttributionCredit.__table__.columns if c.name != "id"
]  # every stored column but the row id
MISSING = 10**9


def _order(
    order_id: str,
    at: datetime,
    *,
    amount: int = 10_000,
    refunded: int = 0,
    currency: str = "USD",
    status: str = "placed",
    click: str | None = None,
    visitor: str | None = None,
    customer: str | None = None,
    items: Sequence[LineItem] = (),
) -> Order:
    return Order(
        order_id,
        amount,
        refunded,
        currency,
        at,
        status,  # type: ignore[arg-type]
        click,
        visitor,
        customer,
        tuple(items),
        "api",
    )


class Seeded:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self.merchant = 0
        self.b_cap = 0
        self.named: dict[str, int] = {}
        self.clicks: dict[str, str] = {}


async def _seed(sessions: SessionFactory) -> Seeded:
    """Two merchants, hand-picked cases and a random crowd of orders; deterministic."""
    rng = random.Random(20_240_611)
    a = await add_merchant(sessions, "A")
    b = await add_merchant(sessions, "B")
    spring = await add_campaign(sessions, a, "spring")
    p1 = await add_product(sessions, a, "Mug")
    await add_product(sessions, a, "Cap", external_id="SKU-2")
    b_cap = await add_product(sessions, b, "Cap of B", external_id="SKU-2")
    channels = [
        await add_channel(sessions, a, "telegram", name="tg one"),
        await add_channel(sessions, a, "telegram", name="tg two", campaign_id=spring),
        await add_channel(sessions, a, "discord", product_id=p1),
        await add_channel(sessions, a, "mastodon", campaign_id=spring),
    ]
    slack = await add_channel(sessions, b, "slack")
    seeded = Seeded()
    seeded.merchant, seeded.b_cap = a, b_cap
    rows: list[dict[str, Any]] = []

    def click(
        merchant: int,
        channel: Channel,
        at: datetime,
        visitor: str | None,
        *,
        bot: bool = False,
        name: str | None = None,
    ) -> str:
        cid = f"k{len(rows):04d}-{rng.randrange(16**8):08x}"
        rows.append(
            {
                "click_id": cid,
                "merchant_id": merchant,
                "link_id": channel.link_id,
                "visitor_id": visitor,
                "at": at,
                "is_bot": bot,
                "is_unique": True,
            }
        )
        if name:
            seeded.clicks[name] = cid
        return cid

    visitors = [f"v{i}" for i in range(1, 13)]
    for visitor in visitors:
        for _ in range(rng.randint(0, 6)):
            at = NOW - timedelta(seconds=rng.randrange(45 * 86_400))
            click(a, rng.choice(channels), at, visitor, bot=rng.random() < 0.1)
    # same instant, two clicks of v1: the tie is broken by click id
    click(a, channels[0], NOW - 3 * DAY, "v1", name="tie1")
    click(a, channels[2], NOW - 3 * DAY, "v1", name="tie2")
    click(a, channels[1], NOW - 4 * DAY, "v2", name="alice-phone")
    click(a, channels[3], NOW - 2 * DAY, None, name="anonymous")
    click(a, channels[2], NOW - 6 * DAY, "v5", name="bob-click")
    click(a, channels[3], NOW - 2 * DAY, "v3", name="v3-click")
    click(a, channels[0], NOW - 5 * DAY, "v7", name="bob-laptop")
    click(a, channels[1], NOW - 2 * DAY, "vbot", bot=True, name="bot")
    click(b, slack, NOW - 3 * DAY, "v1", name="b-v1")
    click(b, slack, NOW - 2 * DAY, "b2", name="b-only")
    async with sessions() as session:
        await session.execute(insert(Click), rows)
        known = {(r["merchant_id"], r["visitor_id"]) for r in rows if r["visitor_id"]}
        await session.execute(
            insert(Visitor),
            [{"merchant_id": m, "visitor_id": v, "first_seen_at": NOW} for m, v in sorted(known)],
        )
        alice = await upsert_customer(session, a, "alice", NOW)
        for visitor in ("v1", "v2"):
            await link_visitor(session, a, visitor, alice, NOW, overwrite=True)
        await session.commit()

    items = [
        LineItem(p1, None, 1, 6000),
        LineItem(None, "SKU-2", 2, 3000),
        LineItem(None, "SKU-unknown", 1, 1000),
        LineItem(None, None, 1, 0),
    ]
    named = {
        "visitor-of-alice": (a, _order("1", NOW - DAY, visitor="v1")),
        "alice-by-name": (a, _order("2", NOW - DAY, customer="alice", items=items[:2])),
        "click-of-alice": (a, _order("15", NOW - DAY, click=seeded.clicks["alice-phone"])),
        "refunded-part": (a, _order("3", NOW - DAY, visitor="v3", refunded=2500, currency="EUR")),
        "refunded-all": (a, _order("4", NOW - 2 * DAY, visitor="v4", status="refunded")),
        "cancelled": (a, _order("5", NOW - DAY, visitor="v6", status="cancelled")),
        "no-clicks": (a, _order("6", NOW - DAY, visitor="nobody")),
        "no-identity": (a, _order("7", NOW - DAY)),
        "own-click-only": (a, _order("8", NOW - DAY, click=seeded.clicks["anonymous"])),
        "bob-by-click": (
            a,
            _order("9", NOW - DAY, click=seeded.clicks["bob-click"], customer="bob"),
        ),
        "foreign-click": (a, _order("10", NOW - DAY, click=seeded.clicks["b-only"], visitor="v8")),
        "line-items": (a, _order("11", NOW - DAY, visitor="v10", items=items, currency="JPY")),
        "early": (a, _order("12", NOW - 20 * DAY, visitor="v11", currency="GBP")),
        "unknown-click": (a, _order("13", NOW - DAY, click="not-seen-yet", visitor="v12")),
        "bot-only": (a, _order("14", NOW - DAY, visitor="vbot")),
        "merchant-b": (b, _order("1", NOW - DAY, visitor="v1", currency="GBP")),
        # A's product id means nothing to B; B's own SKU-2 is another product than A's
        "merchant-b-items": (b, _order("2", NOW - DAY, visitor="b2", items=items)),
    }
    async with sessions() as session:
        for name, (merchant, order) in named.items():
            recorded = await record_order(session, merchant, order, NOW - DAY)
            seeded.named[name] = recorded.conversion_id
        # bob's laptop is linked to bob after his order: only the identity rule finds it
        bob = await upsert_customer(session, a, "bob", NOW)
        await link_visitor(session, a, "v7", bob, NOW, overwrite=True)
        for n in range(40):
            merchant = a if n % 8 else b
            who = rng.choice([*visitors, "b2", None])
            amount = rng.choice([999, 10_000, 123_456])
            order = _order(
                f"r{n}",
                NOW - timedelta(seconds=rng.randrange(30 * 86_400)),
                amount=amount,
                refunded=rng.choice([0, 0, 0, amount // 3, amount]),
                currency=rng.choice(["USD", "EUR", "JPY"]),
                visitor=who,
                customer=rng.choice([None, None, None, "alice", "carol"]),
                items=rng.sample(items, rng.randint(0, 3)),
            )
            recorded = await record_order(session, merchant, order, NOW - DAY)
            seeded.named[f"random-{n}"] = recorded.conversion_id
        # a stale credit that attributing the cancelled conversion must remove
        await session.execute(
            insert(AttributionCredit).values(
                merchant_id=a,
                conversion_id=seeded.named["cancelled"],
                model="markov",
                click_id=seeded.clicks["tie1"],
                weight=1.0,
                revenue_minor=10_000.0,
                occurred_at=NOW - DAY,
            )
        )
        await session.commit()
    seeded.ids = sorted(seeded.named.values())
    return seeded


State = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


async def _state(sessions: SessionFactory) -> State:
    """Every credit (all columns but the row id) and every conversion's attribution times."""
    async with sessions() as session:
        credits = [tuple(r) for r in await session.execute(select(*CREDIT_COLUMNS))]
        times = [
            tuple(r)
            for r in await session.execute(
                select(Conversion.id, Conversion.attributed_at, Conversion.attribute_due_at)
            )
        ]
    return sorted(credits, key=repr), sorted(times)


async def _restore(sessions: SessionFactory, before: State) -> None:
    credits, times = before
    async with sessions() as session:
        await session.execute(delete(AttributionCredit))
        await session.execute(
            insert(AttributionCredit),
            [dict(zip([c.name for c in CREDIT_COLUMNS], r, strict=True)) for r in credits],
        )
        for cid, attributed_at, due in times:
            await session.execute(
                update(Conversion)
                .where(Conversion.id == cid)
                .values(attributed_at=attributed_at, attribute_due_at=due)
            )
        await session.commit()


@pytest.mark.parametrize("config", sorted(CONFIGS))
async def test_chunks_give_what_one_at_a_time_gives(
    sessions: SessionFactory, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = CONFIGS[config]
    seeded = await _seed(sessions)
    before = await _state(sessions)

    one_by_one = []
    for cid in [*seeded.ids, MISSING]:
        async with sessions() as session:
            one_by_one.append(await attribute_conversion(session, cfg, cid, NOW))
    expected = await _state(sessions)

    await _restore(sessions, before)
    assert await _state(sessions) == before
    monkeypatch.setattr(recompute, "_CHUNK", 7)  # chunks that mix merchants and cases
    calls: list[tuple[str, int, int]] = []
    credits = await reattribute(sessions, cfg, seeded.ids, NOW, lambda *call: calls.append(call))
    assert await _state(sessions) == expected
    assert credits == sum(d.credits for d in one_by_one)
    total = len(seeded.ids)
    assert calls == [(RULE_BASED_PHASE, n, total) for n in [0, *range(7, total, 7), total]]

    await _restore(sessions, before)
    async with sessions() as session:  # all at once, in any order, with repeats
        ids = [*reversed(seeded.ids), MISSING, seeded.ids[0]]
        batched = await attribute_conversions(session, cfg, ids, NOW)
    assert await _state(sessions) == expected
    by_id = {d.conversion_id: d for d in one_by_one}
    assert batched == [by_id[i] for i in ids]

    # the comparison means something: the cases came out as the identity rule says
    n = seeded.named
    assert by_id[MISSING].status == "missing"
    assert by_id[n["cancelled"]] == attributing.Attributed(n["cancelled"], "cancelled", 0, 0)
    assert by_id[n["no-clicks"]].credits == 0 and by_id[n["no-identity"]].credits == 0
    assert by_id[n["bot-only"]].touchpoints == 0
    assert by_id[n["own-click-only"]].touchpoints == 1
    clicks_of = _clicks_by_conversion(expected[0])
    assert seeded.clicks["b-only"] not in clicks_of.get(n["foreign-click"], set())
    assert seeded.clicks["bot"] not in {row[_col("click_id")] for row in expected[0]}
    credited = set(clicks_of)
    assert n["cancelled"] not in credited
    assert {n["visitor-of-alice"], n["bob-by-click"], n["refunded-part"]} <= credited
    assert len(credited) > len(seeded.ids) // 2
    if config == "defaults":
        assert seeded.clicks["alice-phone"] in clicks_of[n["visitor-of-alice"]]
        assert seeded.clicks["bob-laptop"] in clicks_of[n["bob-by-click"]]
        assert seeded.clicks["b-v1"] in clicks_of[n["merchant-b"]]
        assert seeded.clicks["tie1"] not in clicks_of[n["merchant-b"]]
        assert clicks_of[n["own-click-only"]] == {seeded.clicks["anonymous"]}
        assert {seeded.clicks["tie1"], seeded.clicks["tie2"]} <= clicks_of[n["click-of-alice"]]
    b_products = {
        row[_col("product_id")]
        for row in expected[0]
        if row[_col("conversion_id")] == n["merchant-b-items"]
    }
    assert b_products == {None, seeded.b_cap}
    currencies = {row[_col("currency")] for row in expected[0]}
    assert {"USD", "EUR", "GBP"} <= currencies
    refunded = [row for row in expected[0] if row[_col("conversion_id")] == n["refunded-part"]]
    assert refunded and all(
        row[_col("revenue_minor")] == row[_col("weight")] * 7500 for row in refunded
    )
    if config == "accounts":
        times = {cid: due for cid, _, due in expected[1]}
        assert times[n["visitor-of-alice"]] == NOW - DAY + timedelta(days=10)
        assert times[n["cancelled"]] is None


def _col(name: str) -> int:
    return [c.name for c in CREDIT_COLUMNS].index(name)


def _clicks_by_conversion(credits: list[tuple[Any, ...]]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for row in credits:
        found.setdefault(row[_col("conversion_id")], set()).add(row[_col("click_id")])
    return found


async def _journey_by_query(
    sessions: SessionFactory, c: Identified, lookback: timedelta
) -> list[Touch]:
    """One conversion's journey the plain way: one query with the identity rule in SQL."""
    facts = c.facts
    reach: list[ColumnElement[bool]] = []
    if c.customer_id is not None:
        reach.append(
            Click.visitor_id.in_(
                select(Visitor.visitor_id).where(
                    Visitor.merchant_id == facts.merchant_id, Visitor.customer_id == c.customer_id
                )
            )
        )
    elif c.visitor_id:
        reach.append(Click.visitor_id == c.visitor_id)
    if facts.click_id:
        reach.append(Click.click_id == facts.click_id)
    if not reach:
        return []
    async with sessions() as session:
        rows = await session.execute(
            select(
                Click.click_id,
                Click.at,
                Click.link_id,
                Link.channel_kind,
                Link.channel_account_id,
                Link.campaign_id,
            )
            .join(Link, Link.id == Click.link_id)
            .where(
                Click.merchant_id == facts.merchant_id,
                Click.is_bot.is_(False),
                Click.at >= facts.occurred_at - lookback,
                Click.at <= facts.occurred_at,
                or_(*reach),
            )
        )
        return sorted((Touch(*row) for row in rows), key=lambda t: (t.at, t.click_id))


async def test_journeys_match_a_query_per_conversion(sessions: SessionFactory) -> None:
    seeded = await _seed(sessions)
    lookback = 14 * DAY
    async with sessions() as session:
        found = await load_conversions(session, seeded.ids)
        journeys = await conversion_journeys(session, found, lookback)
    assert [c.facts.id for c in found] == seeded.ids
    for c, journey in zip(found, journeys, strict=True):
        assert journey == await _journey_by_query(sessions, c, lookback), c.facts.id
    assert sum(len(j) for j in journeys) > len(seeded.ids)
    alice = next(c for c in found if c.facts.id == seeded.named["visitor-of-alice"])
    assert alice.customer_id is not None and alice.key == f"c:{alice.customer_id}"
    bob = next(c for c in found if c.facts.id == seeded.named["bob-by-click"])
    assert bob.visitor_id == "v5"


async def test_a_failing_conversion_costs_only_itself(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await _seed(sessions)
    async with sessions() as session:  # line items the product split cannot read
        bad = await session.scalar(
            insert(Conversion)
            .values(
                merchant_id=seeded.merchant,
                order_id="bad",
                amount_minor=100,
                refunded_minor=0,
                currency="USD",
                occurred_at=NOW - DAY,
                visitor_id="v1",
                status="placed",
                line_items=[{"product_id": None, "amount_minor": "n/a"}],
                source="api",
                created_at=NOW,
            )
            .returning(Conversion.id)
        )
        await session.commit()
    assert bad is not None
    ids = [*seeded.ids[:8], bad, *seeded.ids[8:12], *seeded.ids[12:]]
    monkeypatch.setattr(recompute, "_CHUNK", 5)
    calls: list[tuple[str, int, int]] = []
    with pytest.raises(ValueError, match="n/a"):
        await reattribute(sessions, AttributionSettings(), ids, NOW, lambda *c: calls.append(c))
    # chunks 1 (ids 0-4) whole; chunk 2 (ids 5-9) one by one; the bad one raised at its end
    assert calls == [(RULE_BASED_PHASE, n, len(ids)) for n in [0, 5, 6, 7, 8, 9, 10]]
    async with sessions() as session:
        attributed = dict(
            (await session.execute(select(Conversion.id, Conversion.attributed_at))).all()
        )
    assert attributed[bad] is None
    assert all(attributed[i] == NOW for i in ids[:10] if i != bad)
    assert all(attributed[i] is None for i in ids[10:])


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_locked_conversions_still_take_credits_from_other_writers(
    sessions: SessionFactory,
) -> None:
    """The job holds its conversions FOR NO KEY UPDATE: another transaction's credits that
    reference one (a data-driven batch) pass their foreign-key check without waiting, so the
    two cannot wait for each other through the rollup rows the batch holds."""
    seeded = await _seed(sessions)
    target = seeded.ids[0]
    async with sessions() as holder, holder.begin():
        assert [c.facts.id for c in await load_conversions(holder, [target], lock=True)]
        async with sessions() as other, other.begin():
            await other.execute(text("SET LOCAL lock_timeout = '2s'"))
            await other.execute(
                insert(AttributionCredit).values(
                    merchant_id=seeded.merchant, conversion_id=target, model="markov",
                    click_id="elsewhere", weight=1.0, revenue_minor=1.0, occurred_at=NOW,
                )
            )  # fmt: skip
            await other.rollback()
        # ...while another writer of the conversion itself waits for the holder.
        async with sessions() as writer, writer.begin():
            await writer.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(DBAPIError, match="lock timeout"):
                await writer.execute(
                    update(Conversion).where(Conversion.id == target).values(refunded_minor=1)
                )
