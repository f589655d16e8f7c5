"""Attributing conversions: journeys from SQL, the models, credits back into SQL.

Two paths, both idempotent (credits are replaced, never added to):

- :func:`attribute_conversion` — one conversion, the five rule-based models (first touch,
  last touch, linear, time decay, position based). Run when the conversion arrives, when an
  identity link or a late delivery changes its journey, and once more ``settle_s`` after it
  arrived, to take in clicks the edge wrote late.
- :func:`attribute_data_driven` — the Markov and Shapley models for one merchant. They score a
  channel against *all* journeys (and, for Markov, the paths that did not convert), so running
  them on one conversion's journey would be meaningless: they run as a batch over the
  merchant's conversions of the last ``data_driven_window_days`` days (newest
  ``data_driven_max_conversions``) and the non-converting paths of that window (at most
  ``data_driven_max_paths``), hourly, replacing those models' credits of every conversion in
  the window. A new conversion gets its data-driven credits at the next batch.

``attribute_due_at`` on a conversion says when it wants attributing; :func:`claim_due`
hands out due ones (with a lease, so a crashed run is retried) to the periodic scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions.credits import (
    credit_rows,
    product_resolver,
    product_shares,
    replace_credits,
)
from attribution.conversions.journeys import (
    conversion_journey,
    load_conversion,
    merchant_population,
    to_journey,
)
from attribution.models import (
    Credit,
    FirstTouch,
    LastTouch,
    Linear,
    Markov,
    ModelSpec,
    PositionBased,
    Shapley,
    TimeDecay,
    attribute,
)
from hub.config import AttributionSettings
from hub.storage.models import AttributionCredit, Conversion

__all__ = [
    "Attributed",
    "attribute_conversion",
    "attribute_data_driven",
    "claim_due",
    "data_driven_specs",
    "rule_based_specs",
]

LEASE = timedelta(minutes=5)


def rule_based_specs(cfg: AttributionSettings) -> list[ModelSpec]:
    return [
        FirstTouch(),
        LastTouch(),
        Linear(),
        TimeDecay(half_life=timedelta(days=cfg.time_decay_half_life_days)),
        PositionBased(first=cfg.position_first, last=cfg.position_last),
    ]


def data_driven_specs(cfg: AttributionSettings) -> list[ModelSpec]:
    return [Markov(order=cfg.markov_order), Shapley()]


@dataclass(frozen=True, slots=True)
class Attributed:
    conversion_id: int
    status: str
    touchpoints: int
    credits: int


async def attribute_conversion(
    session: AsyncSession, cfg: AttributionSettings, conversion_id: int, now: datetime
) -> Attributed:
    """Replace the rule-based credits of one conversion; commits."""
    async with session.begin():
        facts = await load_conversion(session, conversion_id, lock=True)
        if facts is None:
            return Attributed(conversion_id, "missing", 0, 0)
        if facts.status == "cancelled":
            await session.execute(
                delete(AttributionCredit).where(AttributionCredit.conversion_id == facts.id)
            )
            await _done(session, facts.id, facts.attribute_due_at, None, now)
            return Attributed(facts.id, facts.status, 0, 0)
        lookback = timedelta(days=cfg.lookback_days)
        touches = await conversion_journey(session, facts, lookback)
        specs = rule_based_specs(cfg)
        credits = attribute([to_journey(facts, touches, cfg.channel_key)], specs, lookback=lookback)
        shares = product_shares(facts, await product_resolver(session, facts.merchant_id, [facts]))
        rows = credit_rows(facts, credits, {t.click_id: t for t in touches}, shares)
        await replace_credits(session, [facts.id], [s.name for s in specs], rows)
        settle = facts.created_at + timedelta(seconds=cfg.settle_s)
        next_due = settle if cfg.settle_s and now < settle else None
        await _done(session, facts.id, facts.attribute_due_at, next_due, now)
        return Attributed(facts.id, facts.status, len(touches), len(rows))


async def _done(
    session: AsyncSession,
    conversion_id: int,
    seen_due: datetime | None,
    next_due: datetime | None,
    now: datetime,
) -> None:
    """Record the run; move the due time on only if nobody flagged the conversion meanwhile."""
    await session.execute(
        update(Conversion).where(Conversion.id == conversion_id).values(attributed_at=now)
    )
    await session.execute(
        update(Conversion)
        .where(
            Conversion.id == conversion_id,
            Conversion.attribute_due_at.is_not_distinct_from(seen_due),
        )
        .values(attribute_due_at=next_due)
    )


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Up to ``limit`` due conversions, leased for :data:`LEASE`; commits."""
    async with session.begin():
        ids = list(
            (
                await session.scalars(
                    select(Conversion.id)
                    .where(Conversion.attribute_due_at <= now)
                    .order_by(Conversion.attribute_due_at)
                    .limit(limit)
                )
            ).all()
        )
        if ids:
            await session.execute(
                update(Conversion)
                .where(Conversion.id.in_(ids), Conversion.attribute_due_at <= now)
                .values(attribute_due_at=now + LEASE)
            )
    return ids


async def attribute_data_driven(
    session: AsyncSession,
    cfg: AttributionSettings,
    merchant_id: int,
    now: datetime,
    *,
    since: datetime | None = None,
) -> int:
    """Replace the Markov and Shapley credits of the merchant's recent conversions; commits.

    The window is ``since`` (default: ``data_driven_window_days`` before ``now``) to ``now``.
    Returns the number of conversions credited.
    """
    async with session.begin():
        population = await merchant_population(
            session,
            merchant_id,
            since=since or now - timedelta(days=cfg.data_driven_window_days),
            until=now,
            lookback=timedelta(days=cfg.lookback_days),
            mode=cfg.channel_key,
            max_conversions=cfg.data_driven_max_conversions,
            max_paths=cfg.data_driven_max_paths,
        )
        if not population.conversions:
            return 0
        specs = data_driven_specs(cfg)
        credits = attribute(
            population.journeys,
            specs,
            non_converting_paths=population.non_converting_paths,
            lookback=timedelta(days=cfg.lookback_days),
        )
        by_conversion: dict[str, list[Credit]] = {}
        for credit in credits:
            by_conversion.setdefault(credit.conversion_id, []).append(credit)
        products = await product_resolver(session, merchant_id, population.conversions)
        rows = []
        for facts in population.conversions:
            rows.extend(
                credit_rows(
                    facts,
                    by_conversion.get(str(facts.id), []),
                    population.touches,
                    product_shares(facts, products),
                )
            )
        await replace_credits(
            session, [f.id for f in population.conversions], [s.name for s in specs], rows
        )
        return len(population.conversions)
