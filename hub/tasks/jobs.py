"""Small jobs of the hub itself."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import text

from hub.tasks.context import TaskContext
from hub.tasks.registry import job

__all__ = ["ping"]


@job("hub.ping")
async def ping(ctx: TaskContext, token: str) -> dict[str, Any]:
    """Proves the path end to end: the runner, the settings and the database."""
    async with ctx.sessions() as session:
        one = (await session.execute(text("SELECT 1"))).scalar_one()
    return {
        "token": token,
        "database": "ok" if one == 1 else "wrong",
        "profile": ctx.settings.profile.value,
        "pid": os.getpid(),
    }
