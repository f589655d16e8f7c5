"""The ``clicks`` queue's periodic job: drain the click stream into SQL (production)."""

from __future__ import annotations

from typing import Any

from attribution.clicks.drain import drain
from attribution.clicks.store import RedisUniqueGate
from hub.config import Profile
from hub.tasks.context import TaskContext
from hub.tasks.registry import job

__all__ = ["drain_clicks"]


@job("clicks.drain", queue="clicks", every_s=1.0)
async def drain_clicks(ctx: TaskContext) -> dict[str, Any]:
    """One drain run; a no-op on the embedded profile (its edge writes SQL itself)."""
    if ctx.redis is None or ctx.settings.profile is not Profile.PRODUCTION:
        return {"entries": 0}
    edge = ctx.settings.edge
    report = await drain(
        ctx.redis,
        ctx.sessions,
        edge,
        RedisUniqueGate(ctx.redis, edge.unique_window_s),
        max_s=edge.drain_max_s,
    )
    return {"entries": report.entries, "clicks": report.clicks, "claimed": report.claimed}
