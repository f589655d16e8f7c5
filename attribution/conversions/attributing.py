"""Attributing conversions: journeys from SQL, the models, credits back into SQL.

Two paths, both idempotent (credits are replaced, never added to):

- :func:`attribute_conversions` — chosen conversions, the five rule-based models (first touch,
  last touch, linear, time decay, position based), in one transaction: a few set-based reads
  for all of them, one delete and one insert of credits, one update of their due times.
  :func:`attribute_conversion` is the same for one conversion, run when the conversion
  arrives, when an identity link or a late delivery changes its journey, and once more
  ``settle_s`` after it arrived, to take in clicks the edge wrote late; ``hub attribution
  recompute`` runs it on chunks of conversions.
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

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions.credits import (
    credit_rows,
    product_resolver,
    product_shares,
    replace_credits,
)
from attribution.conversions.journeys import (
    ConversionFacts,
    Identified,
    conversion_journeys,
    load_conversions,
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
from hub.storage.models import Conversion

__all__ = [
    "Attributed",
    "attribute_conversion",
    "attribute_conversions",
    "attribute_data_driven",
    "claim_due",
    "data_driven_specs",
    "rule_based_specs",
]

LEASE = timedelta(minutes=5)
_CONVERSIONS = cast(Table, Conversion.__table__)


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
    [done] = await attribute_conversions(session, cfg, [conversion_id], now)
    return done


async def attribute_conversions(
    session: AsyncSession, cfg: AttributionSettings, conversion_ids: Sequence[int], now: datetime
) -> list[Attributed]:
    """Replace the rule-based credits of these conversions in one transaction; commits.

    One :class:`Attributed` per id given, in that order (``"missing"`` for an id that names
    no conversion). A cancelled conversion loses all its credits. The rows of the conversions
    are locked (in id order) until the commit; an error rolls back the whole transaction.
    """
    async with session.begin():
        found = await load_conversions(session, conversion_ids, lock=True)
        cancelled = [c.facts.id for c in found if c.facts.status == "cancelled"]
        placed = [c for c in found if c.facts.status != "cancelled"]
        lookback = timedelta(days=cfg.lookback_days)
        journeys = await conversion_journeys(session, placed, lookback)
        specs = rule_based_specs(cfg)
        paths = [
            to_journey(c.facts, ts, cfg.channel_key) for c, ts in zip(placed, journeys, strict=True)
        ]
        credits: dict[str, list[Credit]] = defaultdict(list)
        for credit in attribute(paths, specs, lookback=lookback) if paths else []:
            credits[credit.conversion_id].append(credit)
        products = await _products(session, placed)
        rows: list[dict[str, Any]] = []
        done = {i: Attributed(i, "cancelled", 0, 0) for i in cancelled}
        for c, touches in zip(placed, journeys, strict=True):
            facts = c.facts
            mine = credit_rows(
                facts,
                credits.get(str(facts.id), []),
                {t.click_id: t for t in touches},
                product_shares(facts, products[facts.merchant_id]),
            )
            rows.extend(mine)
            done[facts.id] = Attributed(facts.id, facts.status, len(touches), len(mine))
        # Credits are written last: their rollup rows stay locked only from here to the commit.
        await replace_credits(session, cancelled, None, [])
        await replace_credits(session, [c.facts.id for c in placed], [s.name for s in specs], rows)
        await _done(session, cfg, found, now)
    return [done.get(i) or Attributed(i, "missing", 0, 0) for i in conversion_ids]


async def _products(
    session: AsyncSession, conversions: Sequence[Identified]
) -> dict[int, dict[str, int]]:
    """The products the line items name, per merchant."""
    by_merchant: dict[int, list[ConversionFacts]] = defaultdict(list)
    for c in conversions:
        by_merchant[c.facts.merchant_id].append(c.facts)
    return {m: await product_resolver(session, m, facts) for m, facts in by_merchant.items()}


async def _done(
    session: AsyncSession,
    cfg: AttributionSettings,
    conversions: Sequence[Identified],
    now: datetime,
) -> None:
    """Record the run; move each due time on only if nobody flagged the conversion meanwhile.

    The next due time is ``settle_s`` after the conversion arrived while that is still ahead
    (a cancelled conversion is never due again).
    """
    if not conversions:
        return
    params = []
    for c in conversions:
        facts = c.facts
        settle = facts.created_at + timedelta(seconds=cfg.settle_s)
        settling = cfg.settle_s and now < settle and facts.status != "cancelled"
        params.append(
            {
                "b_id": facts.id,
                "b_seen": facts.attribute_due_at,
                "b_next": settle if settling else None,
            }
        )
    due = _CONVERSIONS.c.attribute_due_at
    await session.execute(
        update(_CONVERSIONS)
        .where(_CONVERSIONS.c.id == bindparam("b_id"))
        .values(
            attributed_at=now,
            attribute_due_at=case(
                (
                    due.is_not_distinct_from(bindparam("b_seen", type_=due.type)),
                    bindparam("b_next", type_=due.type),
                ),
                else_=due,
            ),
        ),
        params,
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
