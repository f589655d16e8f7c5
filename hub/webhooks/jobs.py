"""The webhook jobs (queue ``webhooks``): the periodic scan and one delivery on demand."""

from __future__ import annotations

from typing import Any

from hub.tasks.context import TaskContext
from hub.tasks.registry import job
from hub.webhooks.delivery import deliver_due, deliver_one

__all__ = ["deliver", "scan"]

SCAN_EVERY_S = 5.0


@job("webhooks.scan", queue="webhooks", every_s=SCAN_EVERY_S)
async def scan(ctx: TaskContext) -> dict[str, Any]:
    """Send the due deliveries (one batch); runs every few seconds."""
    result = await deliver_due(ctx)
    return {
        "due": result.due,
        "delivered": result.delivered,
        "retrying": result.retrying,
        "failed": result.failed,
        "skipped": result.skipped,
    }


@job("webhooks.deliver", queue="webhooks")
async def deliver(ctx: TaskContext, delivery_id: int) -> str:
    """One attempt of one delivery now, if it is due (a manual redelivery)."""
    return await deliver_one(ctx, delivery_id)
