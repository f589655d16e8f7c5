"""Attributing stored conversions again (``hub attribution recompute``).

After a change of the attribution settings (lookback, time decay, position weights, channel
key), after identity links that arrived late, or after a backfill of old orders: every chosen
conversion gets its rule-based credits from :func:`attribute_conversions` (a chunk of
conversions per transaction: set-based reads, one replacement of the chunk's credits), then
each merchant's data-driven batch (:func:`attribute_data_driven`) runs over the same period.
Both replace credits, model by model, so running this again gives the same credits, never
twice as many.

Conversions are chosen by merchant and by ``occurred_at >= since``. The data-driven batch keeps
its usual window (``data_driven_window_days``) and reaches back to ``since`` when that is older
(still capped at ``data_driven_max_conversions``, newest first): a narrower window would train
the models on fewer journeys than the hourly batch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions.attributing import (
    attribute_conversion,
    attribute_conversions,
    attribute_data_driven,
)
from hub.config import AttributionSettings
from hub.progress import ProgressCallback
from hub.storage.db import SessionFactory
from hub.storage.models import Conversion, Merchant

__all__ = [
    "DATA_DRIVEN_PHASE",
    "RULE_BASED_PHASE",
    "Recomputed",
    "reattribute",
    "recompute",
    "run_data_driven",
]

RULE_BASED_PHASE = "attribute conversions"
DATA_DRIVEN_PHASE = "data-driven models"
# Conversions attributed per transaction.
_CHUNK = 200


@dataclass(frozen=True, slots=True)
class Recomputed:
    conversions: int  # conversions attributed by the rule-based models
    credits: int  # rule-based credit rows they now have
    merchants: int
    data_driven: int  # conversions given Markov and Shapley credits


async def reattribute(
    sessions: SessionFactory,
    cfg: AttributionSettings,
    conversion_ids: Sequence[int],
    now: datetime,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Replace the rule-based credits of these conversions, :data:`_CHUNK` per transaction.

    Progress is reported after each chunk. A chunk that fails is attributed again one
    conversion at a time, so that one bad conversion costs only itself: the others of the
    chunk are attributed, then the first error is raised (the chunks after it are left as
    they were). Returns the number of credit rows written.
    """
    credits = 0
    total = len(conversion_ids)
    if on_progress is not None:
        on_progress(RULE_BASED_PHASE, 0, total)
    for start in range(0, total, _CHUNK):
        chunk = conversion_ids[start : start + _CHUNK]
        async with sessions() as session:
            try:
                done = await attribute_conversions(session, cfg, chunk, now)
            except Exception:
                credits += await _one_by_one(session, cfg, chunk, now, start, total, on_progress)
                continue
        credits += sum(d.credits for d in done)
        if on_progress is not None:
            on_progress(RULE_BASED_PHASE, start + len(chunk), total)
    return credits


async def _one_by_one(
    session: AsyncSession,
    cfg: AttributionSettings,
    conversion_ids: Sequence[int],
    now: datetime,
    start: int,
    total: int,
    on_progress: ProgressCallback | None,
) -> int:
    """Attribute each conversion in a transaction of its own; raise the first error at the
    end, after the others are attributed. Returns the number of credit rows written."""
    credits = 0
    failed: Exception | None = None
    for offset, conversion_id in enumerate(conversion_ids, start=1):
        try:
            credits += (await attribute_conversion(session, cfg, conversion_id, now)).credits
        except Exception as exc:
            failed = failed or exc
        if on_progress is not None:
            on_progress(RULE_BASED_PHASE, start + offset, total)
    if failed is not None:
        raise failed
    return credits


async def run_data_driven(
    sessions: SessionFactory,
    cfg: AttributionSettings,
    merchant_ids: Sequence[int],
    now: datetime,
    *,
    since: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> int:
    """The Markov and Shapley batch of each merchant; the number of conversions credited."""
    credited = 0
    if on_progress is not None:
        on_progress(DATA_DRIVEN_PHASE, 0, len(merchant_ids))
    for done, merchant_id in enumerate(merchant_ids, start=1):
        async with sessions() as session:
            credited += await attribute_data_driven(session, cfg, merchant_id, now, since=since)
        if on_progress is not None:
            on_progress(DATA_DRIVEN_PHASE, done, len(merchant_ids))
    return credited


async def recompute(
    sessions: SessionFactory,
    cfg: AttributionSettings,
    now: datetime,
    *,
    merchant_id: int | None = None,
    since: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> Recomputed:
    """Attribute the chosen conversions again; ``LookupError`` for an unknown merchant."""
    async with sessions() as session:
        if merchant_id is not None and await session.get(Merchant, merchant_id) is None:
            raise LookupError(f"merchant {merchant_id} not found")
        query = select(Conversion.id, Conversion.merchant_id).order_by(Conversion.id)
        if merchant_id is not None:
            query = query.where(Conversion.merchant_id == merchant_id)
        if since is not None:
            query = query.where(Conversion.occurred_at >= since)
        rows = (await session.execute(query)).all()
    ids = [row[0] for row in rows]
    merchants = sorted({row[1] for row in rows})
    credits = await reattribute(sessions, cfg, ids, now, on_progress)
    window_start = now - timedelta(days=cfg.data_driven_window_days)
    data_driven = await run_data_driven(
        sessions,
        cfg,
        merchants,
        now,
        since=min(since, window_start) if since is not None else None,
        on_progress=on_progress,
    )
    return Recomputed(len(ids), credits, len(merchants), data_driven)
