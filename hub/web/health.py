"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text

from hub.web.keys import REDIS, SESSIONS, SETTINGS

__all__ = ["routes"]

routes = web.RouteTableDef()
_CHECK_TIMEOUT_S = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process answers; nothing else is checked."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: the database answers and, where configured, Redis does."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S), request.app[SESSIONS]() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}"
    redis = request.app.get(REDIS)
    if redis is not None:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "profile": request.app[SETTINGS].profile.value,
        "checks": checks,
    }
    return web.json_response(body, status=200 if ready else 503)
