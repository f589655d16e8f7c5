"""Journeys out of SQL: a conversion and the clicks of its identity in the lookback window.

Chosen conversions (:func:`load_conversions`, then :func:`conversion_journeys`: a few
set-based queries for any number of them) for the rule-based attribution, or every conversion
of a merchant in a period together with the click paths that did not convert
(:func:`merchant_population`) for the data-driven models. Both follow the identity rule of
``attribution.identity`` (:class:`Identified`): the customer (named, or linked to the
conversion's visitor or its click's visitor), else the visitor, else the click alone; the
conversion's own click always counts. Bot clicks never count. The channel key of a touchpoint
is the link's channel kind (``"telegram"``) or, with ``channel_key: account``,
``"telegram:12"`` (the channel account).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from attribution.models import Journey, Touchpoint
from hub.storage.models import Click, Conversion, Link, Visitor

__all__ = [
    "ChannelMode",
    "ConversionFacts",
    "Identified",
    "Population",
    "Touch",
    "channel_key",
    "conversion_journeys",
    "load_conversions",
    "merchant_population",
    "to_journey",
]

ChannelMode = Literal["kind", "account"]
UNKNOWN_CHANNEL = "unknown"
_T = TypeVar("_T")
# Values per ``IN (...)`` list.
_IN_CHUNK = 2000


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
# In the order of the fields of ConversionFacts.
_FACT_COLUMNS = (
    Conversion.id,
    Conversion.merchant_id,
    Conversion.occurred_at,
    Conversion.amount_minor,
    Conversion.refunded_minor,
    Conversion.status,
    Conversion.click_id,
    Conversion.visitor_id,
    Conversion.customer_id,
    Conversion.line_items,
    Conversion.attribute_due_at,
    Conversion.created_at,
)


@dataclass(frozen=True, slots=True)
class Identified:
    """A conversion and the identity whose clicks make its journey.

    ``customer_id`` is the conversion's customer, else the customer linked to its visitor,
    else the one linked to the visitor of its click; ``visitor_id`` is its visitor, else its
    click's visitor. The journey is the customer's visitors' clicks when there is a customer,
    else the visitor's clicks, plus the conversion's own click.
    """

    facts: ConversionFacts
    customer_id: int | None
    visitor_id: str | None

    @property
    def key(self) -> str | None:
        """The identity as one string: ``c:<customer>``, ``v:<visitor>`` or ``k:<click>``."""
        return _key(self.customer_id, self.visitor_id, self.facts.click_id)


def _identified_query() -> Select[*tuple[Any, ...]]:
    """Conversions with what the identity rule needs: the customers linked to the
    conversion's visitor and to its click's visitor, and that click's visitor."""
    v1, v2, k = aliased(Visitor), aliased(Visitor), aliased(Click)
    return (
        select(*_FACT_COLUMNS, v1.customer_id, k.visitor_id, v2.customer_id)
        .outerjoin(
            v1,
            and_(v1.merchant_id == Conversion.merchant_id, v1.visitor_id == Conversion.visitor_id),
        )
        .outerjoin(
            k, and_(k.merchant_id == Conversion.merchant_id, k.click_id == Conversion.click_id)
        )
        .outerjoin(
            v2, and_(v2.merchant_id == Conversion.merchant_id, v2.visitor_id == k.visitor_id)
        )
    )


def _identified(row: Sequence[Any]) -> Identified:
    # the JSON list of line items becomes a tuple; the other columns are taken as read
    facts = ConversionFacts(*row[:9], *(tuple(row[9] or ()), *row[10:12]))
    visitor_customer, clicked_by, click_customer = row[12], row[13], row[14]
    customer = facts.customer_id
    if customer is None and facts.visitor_id:
        customer = visitor_customer
    if customer is None and clicked_by:
        customer = click_customer
    return Identified(facts, customer, facts.visitor_id or clicked_by)


async def load_conversions(
    session: AsyncSession, conversion_ids: Iterable[int], *, lock: bool = False
) -> list[Identified]:
    """These conversions (those that exist), by id; ``lock`` holds their rows (PostgreSQL,
    taken in id order) until the transaction ends, ``FOR NO KEY UPDATE``: writers of the same
    conversions wait, but not a foreign-key check of a credit referencing one (``FOR KEY
    SHARE``), which a data-driven batch makes while it holds rollup rows."""
    ids = sorted(set(conversion_ids))
    found: list[Identified] = []
    for chunk in _chunks(ids):
        query = _identified_query().where(Conversion.id.in_(chunk)).order_by(Conversion.id)
        if lock:
            query = query.with_for_update(of=Conversion, key_share=True)
        found.extend(_identified(row) for row in await session.execute(query))
    return found


async def conversion_journeys(
    session: AsyncSession, conversions: Sequence[Identified], lookback: timedelta
) -> list[list[Touch]]:
    """The non-bot clicks of each conversion's identity in its lookback window, oldest first.

    One query for the customers' visitors and one or two for the clicks of all the
    conversions, whatever their number (lists of more than 2,000 values are split).
    """
    if not conversions:
        return []
    visitors_of = await _customer_visitors(
        session,
        {(c.facts.merchant_id, c.customer_id) for c in conversions if c.customer_id is not None},
    )
    reach: list[list[str]] = []
    for c in conversions:
        if c.customer_id is not None:
            reach.append(visitors_of.get((c.facts.merchant_id, c.customer_id), []))
        else:
            reach.append([c.visitor_id] if c.visitor_id else [])
    own = sorted({c.facts.click_id for c in conversions if c.facts.click_id})
    visitors = sorted({v for vs in reach for v in vs})
    query = (
        select(*_TOUCH_COLUMNS, Click.merchant_id, Click.visitor_id)
        .join(Link, Link.id == Click.link_id)
        .where(
            Click.merchant_id.in_(sorted({c.facts.merchant_id for c in conversions})),
            Click.is_bot.is_(False),
            Click.at >= min(c.facts.occurred_at for c in conversions) - lookback,
            Click.at <= max(c.facts.occurred_at for c in conversions),
        )
    )
    found: dict[str, tuple[Touch, int, str | None]] = {}
    for column, values in ((Click.visitor_id, visitors), (Click.click_id, own)):
        for chunk in _chunks(values):
            for row in await session.execute(query.where(column.in_(chunk))):
                found[row[0]] = (Touch(*row[:6]), row[6], row[7])
    by_visitor: dict[tuple[int, str | None], list[Touch]] = defaultdict(list)
    for touch, merchant, visitor in sorted(found.values(), key=lambda f: _order(f[0])):
        by_visitor[(merchant, visitor)].append(touch)
    times = {key: [t.at for t in ts] for key, ts in by_visitor.items()}

    journeys: list[list[Touch]] = []
    for c, vs in zip(conversions, reach, strict=True):
        facts = c.facts
        start = facts.occurred_at - lookback
        chosen: dict[str, Touch] = {}
        for visitor in vs:
            key = (facts.merchant_id, visitor)
            ts, at = by_visitor.get(key, []), times.get(key, [])
            lo = bisect.bisect_left(at, start)
            hi = bisect.bisect_right(at, facts.occurred_at)
            chosen.update((t.click_id, t) for t in ts[lo:hi])
        mine = found.get(facts.click_id or "")
        if mine is not None and mine[1] == facts.merchant_id:
            touch = mine[0]
            if start <= touch.at <= facts.occurred_at:
                chosen.setdefault(touch.click_id, touch)
        journeys.append(sorted(chosen.values(), key=_order))
    return journeys


async def _customer_visitors(
    session: AsyncSession, customers: set[tuple[int, int]]
) -> dict[tuple[int, int], list[str]]:
    """The visitors linked to each (merchant, customer)."""
    visitors: dict[tuple[int, int], list[str]] = defaultdict(list)
    for chunk in _chunks(sorted({customer for _, customer in customers})):
        rows = await session.execute(
            select(Visitor.merchant_id, Visitor.customer_id, Visitor.visitor_id).where(
                Visitor.customer_id.in_(chunk)
            )
        )
        for merchant, customer, visitor in rows:
            if customer is not None and (merchant, customer) in customers:
                visitors[(merchant, customer)].append(visitor)
    return visitors


def _order(touch: Touch) -> tuple[datetime, str]:
    return touch.at, touch.click_id


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i : i + _IN_CHUNK]


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
    rows = await session.execute(
        _identified_query()
        .where(
            Conversion.merchant_id == merchant_id,
            Conversion.occurred_at >= since,
            Conversion.occurred_at <= until,
            Conversion.status != "cancelled",
        )
        .order_by(Conversion.occurred_at.desc(), Conversion.id.desc())
        .limit(max_conversions)
    )
    conversions = [(found.facts, found.key) for found in map(_identified, rows)]
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
