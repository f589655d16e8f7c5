"""Daily series by channel: clicks and one model's credited revenue per local day and channel.

What the dashboard draws. Days are the merchant's local days (``Period``); every day of the
period is present, with zeros where nothing happened, so the series line up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.reports.periods import Period, local_day
from attribution.reports.queries import (
    ClickSource,
    CreditSource,
    click_columns,
    credit_source,
    model_column,
    plan_per_period,
)
from hub.money import from_minor
from hub.storage.models import AttributionCredit, CreditDay, Link

__all__ = ["ChannelSeries", "Series", "daily_series", "series_json"]


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    channel: str
    clicks: list[int]
    revenue: list[Decimal]


@dataclass(frozen=True, slots=True)
class Series:
    model: str
    currency: str
    period: Period
    channels: list[ChannelSeries]


def _day(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


async def daily_series(
    session: AsyncSession,
    merchant_id: int,
    model: str,
    period: Period,
    currency: str,
    *,
    clicks_from: ClickSource = "auto",
    credits_from: CreditSource = "auto",
) -> Series:
    """Clicks (people only) and credited revenue in ``currency`` per day and channel kind;
    clicks and credits read as :func:`attribution.reports.queries.report` reads them."""
    dialect = session.get_bind().dialect.name
    days = [d.isoformat() for d in period.days()]
    index = {d: i for i, d in enumerate(days)}
    clicks: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    revenue: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(days))

    await plan_per_period(session)
    cols = await click_columns(session, merchant_id, period, clicks_from)
    rows = await session.execute(
        select(cols.day, Link.channel_kind, cols.clicks)
        .join(Link, Link.id == cols.link_id)
        .where(*cols.where)
        .group_by(cols.day, Link.channel_kind)
    )
    for day, kind, count in rows:
        if (i := index.get(_day(day))) is not None:
            clicks[kind or "direct"][i] += int(count)

    if await credit_source(session, merchant_id, period, credits_from) == "days":
        kind = func.nullif(CreditDay.channel_kind, "")
        query = (
            select(CreditDay.day, kind, func.sum(model_column(CreditDay, model, "revenue_minor")))
            .where(
                CreditDay.merchant_id == merchant_id,
                CreditDay.timezone == period.timezone,
                model_column(CreditDay, model, "credits") != 0,
                CreditDay.currency == currency,
                CreditDay.day >= period.first_day,
                CreditDay.day <= period.last_day,
            )
            .group_by(CreditDay.day, kind)
        )
    else:
        credit_day = local_day(AttributionCredit.occurred_at, period, dialect)
        query = (
            select(
                credit_day,
                AttributionCredit.channel_kind,
                func.sum(AttributionCredit.revenue_minor),
            )
            .where(
                AttributionCredit.merchant_id == merchant_id,
                AttributionCredit.model == model,
                AttributionCredit.currency == currency,
                AttributionCredit.occurred_at >= period.start,
                AttributionCredit.occurred_at < period.end,
            )
            .group_by(credit_day, AttributionCredit.channel_kind)
        )
    rows = await session.execute(query)
    for day, kind, minor in rows:
        if (i := index.get(_day(day))) is not None:
            revenue[kind or "direct"][i] += from_minor(round(float(minor or 0)), currency)

    kinds = sorted(set(clicks) | set(revenue))
    return Series(
        model=model,
        currency=currency,
        period=period,
        channels=[ChannelSeries(k, clicks[k], revenue[k]) for k in kinds],
    )


def series_json(series: Series) -> dict[str, Any]:
    return {
        "model": series.model,
        "currency": series.currency,
        "period": {
            "from": series.period.first_day.isoformat(),
            "to": series.period.last_day.isoformat(),
            "timezone": series.period.timezone,
        },
        "days": [d.isoformat() for d in series.period.days()],
        "channels": [
            {
                "key": c.channel,
                "label": c.channel,
                "clicks": c.clicks,
                "revenue": [str(v) for v in c.revenue],
            }
            for c in series.channels
        ],
    }
