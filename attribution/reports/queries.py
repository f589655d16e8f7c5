"""Credited conversions and revenue, clicks and unique visitors, grouped by one dimension.

Every number is a SQL aggregate over rows the indexes select — credits by
``(merchant_id, model, occurred_at)``, clicks by ``(merchant_id, at)`` — never a loop over rows
in Python; Python only joins the few grouped results by key and fetches their labels.

Dimensions: ``channel`` (the channel kind), ``account`` (channel account), ``campaign``,
``product``, ``link`` and ``day`` (the merchant-local date). Conversions and revenue are
grouped by what was credited: the clicked link's channel, account, campaign and link, the
*product sold* (from the order's line items) and the conversion's day. Clicks and unique
visitors (distinct visitor ids, bots excluded) are grouped by the clicked link, its card's
product, and the click's day. ``conversions`` is the credited share of conversions (a sum of
weights); ``conversion_rate`` is ``conversions / unique_visitors``. Revenue is net of refunds
and kept per currency (amounts in different currencies are never added); cancelled orders
have no credits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.reports.periods import Period, local_day
from hub.money import from_minor
from hub.storage.models import (
    AttributionCredit,
    Campaign,
    ChannelAccount,
    Click,
    Conversion,
    Link,
    Product,
)

__all__ = [
    "DIMENSIONS",
    "Comparison",
    "Dimension",
    "Figures",
    "Report",
    "Row",
    "compare_models",
    "report",
]

Dimension = Literal["channel", "account", "campaign", "product", "link", "day"]
DIMENSIONS: tuple[Dimension, ...] = ("channel", "account", "campaign", "product", "link", "day")
Key = str | int | None


@dataclass(frozen=True, slots=True)
class Figures:
    """Credited conversions and revenue (per currency, as decimal amounts)."""

    conversions: float = 0.0
    revenue: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    key: Key
    label: str
    clicks: int
    unique_visitors: int
    figures: Figures

    @property
    def conversion_rate(self) -> float | None:
        if not self.unique_visitors:
            return None
        return self.figures.conversions / self.unique_visitors


@dataclass(frozen=True, slots=True)
class Report:
    dimension: Dimension
    model: str
    period: Period
    rows: list[Row]
    total: Row


@dataclass(frozen=True, slots=True)
class Comparison:
    dimension: Dimension
    models: list[str]
    period: Period
    # key → label, then model → figures
    rows: list[tuple[Key, str, dict[str, Figures]]]
    totals: dict[str, Figures]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _credit_key(dimension: Dimension, period: Period, dialect: str) -> Any:
    if dimension == "day":
        return local_day(AttributionCredit.occurred_at, period, dialect)
    return {
        "channel": AttributionCredit.channel_kind,
        "account": AttributionCredit.channel_account_id,
        "campaign": AttributionCredit.campaign_id,
        "product": AttributionCredit.product_id,
        "link": AttributionCredit.link_id,
    }[dimension]


def _click_key(dimension: Dimension, period: Period, dialect: str) -> Any:
    if dimension == "day":
        return local_day(Click.at, period, dialect)
    return {
        "channel": Link.channel_kind,
        "account": Link.channel_account_id,
        "campaign": Link.campaign_id,
        "product": Link.product_id,
        "link": Click.link_id,
    }[dimension]


def _norm(key: Any) -> Key:
    if key is None or isinstance(key, int | str):
        return key
    return str(key)  # a date (PostgreSQL) → ISO text, as SQLite gives it


async def _credited(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension | None,
    models: Sequence[str],
    period: Period,
) -> dict[tuple[Key, str], Figures]:
    key = _credit_key(dimension, period, _dialect(session)) if dimension else None
    cols = [AttributionCredit.model, Conversion.currency]
    if key is not None:
        cols.insert(0, key.label("k"))
    query = (
        select(*cols, func.sum(AttributionCredit.weight), func.sum(AttributionCredit.revenue_minor))
        .join(Conversion, Conversion.id == AttributionCredit.conversion_id)
        .where(
            AttributionCredit.merchant_id == merchant_id,
            AttributionCredit.model.in_(list(models)),
            AttributionCredit.occurred_at >= period.start,
            AttributionCredit.occurred_at < period.end,
        )
        .group_by(*cols)
    )
    conversions: dict[tuple[Key, str], float] = defaultdict(float)
    revenue: dict[tuple[Key, str], dict[str, Decimal]] = defaultdict(dict)
    for row in await session.execute(query):
        k = _norm(row[0]) if key is not None else None
        model, currency, weight, minor = row[-4], row[-3], row[-2], row[-1]
        conversions[(k, model)] += float(weight or 0.0)
        revenue[(k, model)][currency] = from_minor(round(float(minor or 0.0)), currency)
    return {kk: Figures(conversions[kk], dict(sorted(revenue[kk].items()))) for kk in conversions}


async def _clicks(
    session: AsyncSession, merchant_id: int, dimension: Dimension | None, period: Period
) -> dict[Key, tuple[int, int]]:
    key = _click_key(dimension, period, _dialect(session)) if dimension else None
    cols = [func.count(Click.id), func.count(distinct(Click.visitor_id))]
    query = (
        select(*([key.label("k")] if key is not None else []), *cols)
        .join(Link, Link.id == Click.link_id)
        .where(
            Click.merchant_id == merchant_id,
            Click.is_bot.is_(False),
            Click.at >= period.start,
            Click.at < period.end,
        )
    )
    if key is not None:
        query = query.group_by(key)
    out: dict[Key, tuple[int, int]] = {}
    for row in await session.execute(query):
        k = _norm(row[0]) if key is not None else None
        out[k] = (int(row[-2]), int(row[-1]))
    return out


async def _labels(
    session: AsyncSession, merchant_id: int, dimension: Dimension, keys: set[Key]
) -> dict[Key, str]:
    ids = [k for k in keys if isinstance(k, int)]
    found: dict[Key, str] = {}
    if ids and dimension in ("account", "campaign", "product", "link"):
        table: Any = {
            "account": ChannelAccount,
            "campaign": Campaign,
            "product": Product,
            "link": Link,
        }[dimension]
        label: Any = {
            "account": ChannelAccount.name,
            "campaign": Campaign.name,
            "product": Product.title,
            "link": Link.code,
        }[dimension]
        rows = await session.execute(
            select(table.id, label).where(table.merchant_id == merchant_id, table.id.in_(ids))
        )
        found = {row[0]: str(row[1]) for row in rows}
    return {k: found.get(k, "(none)" if k is None else str(k)) for k in keys}


def _ordered(dimension: Dimension, keys: set[Key], period: Period) -> list[Key]:
    if dimension == "day":
        return [d.isoformat() for d in period.days()]
    return sorted(keys, key=lambda k: (k is None, str(type(k)), k if k is not None else 0))


async def report(
    session: AsyncSession, merchant_id: int, dimension: Dimension, model: str, period: Period
) -> Report:
    """One model's figures for ``dimension`` over ``period``, with totals."""
    credited = await _credited(session, merchant_id, dimension, [model], period)
    clicks = await _clicks(session, merchant_id, dimension, period)
    keys = {k for k, _ in credited} | set(clicks)
    labels = await _labels(session, merchant_id, dimension, keys)
    rows = [
        Row(k, labels.get(k, str(k)), *clicks.get(k, (0, 0)), credited.get((k, model), Figures()))
        for k in _ordered(dimension, keys, period)
    ]
    total_credit = await _credited(session, merchant_id, None, [model], period)
    total_clicks = await _clicks(session, merchant_id, None, period)
    total = Row(
        None, "total", *total_clicks.get(None, (0, 0)), total_credit.get((None, model), Figures())
    )
    return Report(dimension, model, period, rows, total)


async def compare_models(
    session: AsyncSession,
    merchant_id: int,
    dimension: Dimension,
    models: Sequence[str],
    period: Period,
) -> Comparison:
    """Several models side by side for ``dimension`` over ``period``."""
    credited = await _credited(session, merchant_id, dimension, models, period)
    keys = {k for k, _ in credited}
    labels = await _labels(session, merchant_id, dimension, keys)
    rows = [
        (k, labels.get(k, str(k)), {m: credited.get((k, m), Figures()) for m in models})
        for k in _ordered(dimension, keys, period)
    ]
    totals_raw = await _credited(session, merchant_id, None, models, period)
    totals = {m: totals_raw.get((None, m), Figures()) for m in models}
    return Comparison(dimension, list(models), period, rows, totals)
