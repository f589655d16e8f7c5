"""Journeys out of SQL: a conversion and the clicks of its identity in the lookback window.

One conversion (:func:`conversion_journey`) for the attribution job, or every conversion of a
merchant in a period together with the click paths that did not convert
(:func:`merchant_population`) for the data-driven models. Both follow the identity rule of
``attribution.identity``: the customer (named, or linked to the conversion's visitor or its
click's visitor), else the visitor, else the click alone; the conversion's own click always
counts. Bot clicks never count. The channel key of a touchpoint is the link's channel kind
(``"telegram"``) or, with ``channel_key: account``, ``"telegram:12"`` (the channel account).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from attribution.models import Journey, Touchpoint
from hub.storage.models import Click, Conversion, Link, Visitor

__all__ = [
    "ChannelMode",
    "ConversionFacts",
    "Population",
    "Touch",
    "channel_key",
    "conversion_journey",
    "load_conversion",
    "merchant_population",
    "to_journey",
]

ChannelMode = Literal["kind", "account"]
UNKNOWN_CHANNEL = "unknown"


@dataclass(frozen=True, slots=True)
class Touch:
    """One click with what the link says about it."""

    click_id: str
    at: datetime
    link_id: int
    channel_kind: str | None
    channel_account_id: int | None
    campaign_id: int | None


@dataclass(frozen=True, slots=True)
class ConversionFacts:
    id: int
    merchant_id: int
    occurred_at: datetime
    amount_minor: int
    refunded_minor: int
    status: str
    click_id: str | None
    visitor_id: str | None
    customer_id: int | None
    line_items: tuple[dict[str, Any], ...]
    attribute_due_at: datetime | None
    created_at: datetime

    @property
    def net_minor(self) -> int:
        return max(self.amount_minor - self.refunded_minor, 0)


@dataclass(frozen=True, slots=True)
class Population:
    """A merchant's conversions of a period, their journeys, and the paths that did not convert."""

    conversions: list[ConversionFacts]
    journeys: list[Journey]
    touches: dict[str, Touch]
    non_converting_paths: list[list[str]]


def channel_key(touch: Touch, mode: ChannelMode) -> str:
    kind = touch.channel_kind or UNKNOWN_CHANNEL
    if mode == "account":
        return f"{kind}:{touch.channel_account_id or 0}"
    return kind


def to_journey(facts: ConversionFacts, touches: Sequence[Touch], mode: ChannelMode) -> Journey:
    ordered = sorted(touches, key=lambda t: (t.at, t.click_id))
    return Journey(
        str(facts.id),
        float(facts.net_minor),
        facts.occurred_at,
        [Touchpoint(t.click_id, channel_key(t, mode), t.at) for t in ordered],
    )


_TOUCH_COLUMNS = (
    Click.click_id,
    Click.at,
    Click.link_id,
    Link.channel_kind,
    Link.channel_account_id,
    Link.campaign_id,
)


def _facts(c: Conversion) -> ConversionFacts:
    return ConversionFacts(
        c.id,
        c.merchant_id,
        c.occurred_at,
        c.amount_minor,
        c.refunded_minor,
        c.status,
        c.click_id,
        c.visitor_id,
        c.customer_id,
        tuple(c.line_items or ()),
        c.attribute_due_at,
        c.created_at,
    )


async def load_conversion(
    session: AsyncSession, conversion_id: int, *, lock: bool = False
) -> ConversionFacts | None:
    """The conversion; ``lock`` holds its row (PostgreSQL) until the transaction ends."""
    query = select(Conversion).where(Conversion.id == conversion_id)
    if lock:
        query = query.with_for_update()
    found = await session.scalar(query)
    return None if found is None else _facts(found)


async def _identity(session: AsyncSession, facts: ConversionFacts) -> tuple[int | None, str | None]:
    """(customer, visitor) of the conversion by the identity rule."""
    clicked_by = None
    if facts.click_id:
        clicked_by = await session.scalar(
            select(Click.visitor_id).where(
                Click.click_id == facts.click_id, Click.merchant_id == facts.merchant_id
            )
        )
    visitor = facts.visitor_id or clicked_by
    if facts.customer_id is not None:
        return facts.customer_id, visitor
    for candidate in (facts.visitor_id, clicked_by):
        if candidate:
            customer = await session.scalar(
                select(Visitor.customer_id).where(
                    Visitor.merchant_id == facts.merchant_id, Visitor.visitor_id == candidate
                )
            )
            if customer is not None:
                return customer, visitor
    return None, visitor


async def conversion_journey(
    session: AsyncSession, facts: ConversionFacts, lookback: timedelta
) -> list[Touch]:
    """The non-bot clicks of the conversion's identity in its lookback window."""
    customer, visitor = await _identity(session, facts)
    reach: list[ColumnElement[bool]] = []
    if customer is not None:
        reach.append(
            Click.visitor_id.in_(
                select(Visitor.visitor_id).where(
                    Visitor.merchant_id == facts.merchant_id, Visitor.customer_id == customer
                )
            )
        )
    elif visitor:
        reach.append(Click.visitor_id == visitor)
    if facts.click_id:
        reach.append(Click.click_id == facts.click_id)
    if not reach:
        return []
    rows = await session.execute(
        select(*_TOUCH_COLUMNS)
        .join(Link, Link.id == Click.link_id)
        .where(
            Click.merchant_id == facts.merchant_id,
            Click.is_bot.is_(False),
            Click.at >= facts.occurred_at - lookback,
            Click.at <= facts.occurred_at,
            or_(*reach),
        )
        .order_by(Click.at, Click.click_id)
    )
    return [Touch(*row) for row in rows]


def _key(customer: int | None, visitor: str | None, click: str | None) -> str | None:
    if customer is not None:
        return f"c:{customer}"
    if visitor:
        return f"v:{visitor}"
    return f"k:{click}" if click else None


async def merchant_population(
    session: AsyncSession,
    merchant_id: int,
    *,
    since: datetime,
    until: datetime,
    lookback: timedelta,
    mode: ChannelMode,
    max_conversions: int,
    max_paths: int,
) -> Population:
    """The merchant's conversions in ``[since, until]`` (newest first, capped) with journeys.

    Non-converting paths are the identities with clicks in the period and no conversion in it:
    the channel keys of their clicks in the period, oldest first (capped, in identity order).
    """
    v1, v2, k = aliased(Visitor), aliased(Visitor), aliased(Click)
    conv_rows = (
        await session.execute(
            select(Conversion, v1.customer_id, k.visitor_id, v2.customer_id)
            .outerjoin(
                v1, and_(v1.merchant_id == merchant_id, v1.visitor_id == Conversion.visitor_id)
            )
            .outerjoin(k, and_(k.merchant_id == merchant_id, k.click_id == Conversion.click_id))
            .outerjoin(v2, and_(v2.merchant_id == merchant_id, v2.visitor_id == k.visitor_id))
            .where(
                Conversion.merchant_id == merchant_id,
                Conversion.occurred_at >= since,
                Conversion.occurred_at <= until,
                Conversion.status != "cancelled",
            )
            .order_by(Conversion.occurred_at.desc(), Conversion.id.desc())
            .limit(max_conversions)
        )
    ).all()
    conversions: list[tuple[ConversionFacts, str | None]] = []
    for conv, visitor_customer, click_visitor, click_customer in conv_rows:
        facts = _facts(conv)
        customer = facts.customer_id or visitor_customer or click_customer
        key = _key(customer, facts.visitor_id or click_visitor, facts.click_id)
        conversions.append((facts, key))
    conversions.reverse()  # oldest first

    start = (conversions[0][0].occurred_at - lookback) if conversions else since
    click_rows = await session.execute(
        select(*_TOUCH_COLUMNS, Visitor.customer_id, Click.visitor_id)
        .join(Link, Link.id == Click.link_id)
        .outerjoin(
            Visitor,
            and_(Visitor.merchant_id == merchant_id, Visitor.visitor_id == Click.visitor_id),
        )
        .where(
            Click.merchant_id == merchant_id,
            Click.is_bot.is_(False),
            Click.at >= min(start, since),
            Click.at <= until,
        )
        .order_by(Click.at, Click.click_id)
    )
    by_key: dict[str, list[Touch]] = defaultdict(list)
    touches: dict[str, Touch] = {}
    for row in click_rows:
        touch = Touch(*row[:6])
        touches[touch.click_id] = touch
        key = _key(row[6], row[7], touch.click_id)
        assert key is not None
        by_key[key].append(touch)
    times = {key: [t.at for t in ts] for key, ts in by_key.items()}

    journeys: list[Journey] = []
    converted: set[str] = set()
    for facts, key in conversions:
        chosen: dict[str, Touch] = {}
        if key is not None:
            converted.add(key)
            ts, at = by_key.get(key, []), times.get(key, [])
            lo = bisect.bisect_left(at, facts.occurred_at - lookback)
            hi = bisect.bisect_right(at, facts.occurred_at)
            chosen = {t.click_id: t for t in ts[lo:hi]}
        own = touches.get(facts.click_id or "")
        if own is not None and facts.occurred_at - lookback <= own.at <= facts.occurred_at:
            chosen.setdefault(own.click_id, own)
        journeys.append(to_journey(facts, list(chosen.values()), mode))

    paths: list[list[str]] = []
    for key in sorted(by_key):
        if len(paths) >= max_paths:
            break
        if key in converted:
            continue
        path = [channel_key(t, mode) for t in by_key[key] if t.at >= since]
        if path:
            paths.append(path)
    return Population([f for f, _ in conversions], journeys, touches, paths)
