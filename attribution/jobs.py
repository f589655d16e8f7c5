"""Attribution jobs (queue ``attribution``): thin shells over ``attribution.conversions``.

- ``attribution.attribute_conversion(conversion_id)`` — the rule-based models of one
  conversion; enqueued by the hooks after commit.
- ``attribution.scan_due`` (every 30 s) — attributes the conversions whose
  ``attribute_due_at`` has come: the second pass after ``settle_s``, conversions an identity
  link or late delivery changed, and any whose enqueued job was lost.
- ``attribution.data_driven(merchant_id)`` and ``attribution.data_driven_scan`` (hourly) —
  the Markov and Shapley models per merchant, as a batch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select

from attribution.conversions.attributing import (
    attribute_conversion as _attribute_conversion,
)
from attribution.conversions.attributing import (
    attribute_data_driven,
    claim_due,
)
from attribution.conversions.recompute import reattribute
from hub.storage.models import Conversion
from hub.storage.types import utcnow
from hub.tasks.context import TaskContext
from hub.tasks.registry import job

__all__ = ["attribute_conversion", "data_driven", "data_driven_scan", "scan_due"]

log = structlog.get_logger("attribution.jobs")

SCAN_BATCH = 500


@job("attribution.attribute_conversion", queue="attribution")
async def attribute_conversion(ctx: TaskContext, conversion_id: int) -> dict[str, Any]:
    async with ctx.sessions() as session:
        done = await _attribute_conversion(
            session, ctx.settings.attribution, int(conversion_id), utcnow()
        )
    log.info(
        "conversion_attributed",
        conversion_id=done.conversion_id,
        status=done.status,
        touchpoints=done.touchpoints,
        credits=done.credits,
    )
    return {
        "conversion_id": done.conversion_id,
        "status": done.status,
        "touchpoints": done.touchpoints,
        "credits": done.credits,
    }


@job("attribution.scan_due", queue="attribution", every_s=30.0)
async def scan_due(ctx: TaskContext) -> dict[str, Any]:
    """Attribute the due conversions: up to ``SCAN_BATCH`` leased, then attributed in chunks
    (as ``hub attribution recompute`` does); a lease that runs out is claimed again."""
    async with ctx.sessions() as session:
        ids = await claim_due(session, utcnow(), SCAN_BATCH)
    await reattribute(ctx.sessions, ctx.settings.attribution, ids, utcnow())
    return {"attributed": len(ids)}


@job("attribution.data_driven", queue="attribution")
async def data_driven(ctx: TaskContext, merchant_id: int) -> dict[str, Any]:
    async with ctx.sessions() as session:
        count = await attribute_data_driven(
            session, ctx.settings.attribution, int(merchant_id), utcnow()
        )
    log.info("data_driven_attributed", merchant_id=merchant_id, conversions=count)
    return {"merchant_id": merchant_id, "conversions": count}


@job("attribution.data_driven_scan", queue="attribution", every_s=3600.0)
async def data_driven_scan(ctx: TaskContext) -> dict[str, Any]:
    since = utcnow() - timedelta(days=ctx.settings.attribution.data_driven_window_days)
    async with ctx.sessions() as session:
        merchants = (
            await session.scalars(
                select(Conversion.merchant_id)
                .where(Conversion.occurred_at >= since)
                .distinct()
                .order_by(Conversion.merchant_id)
            )
        ).all()
    total = 0
    for merchant_id in merchants:
        total += (await data_driven(ctx, merchant_id))["conversions"]
    return {"merchants": len(merchants), "conversions": total}
