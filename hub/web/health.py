"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text

from hub.web.errors import ErrorCode
from hub.web.keys import REDIS, SESSIONS, SETTINGS
from hub.web.openapi import operation

__all__ = ["routes"]

routes = web.RouteTableDef()


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    profile: str
    checks: dict[str, str]


_CHECK_TIMEOUT_S = 2.0


@routes.get("/healthz")
@operation("Liveness: the process answers", response=Health)
async def healthz(request: web.Request) -> web.Response:
    """The process answers; nothing else is checked."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@operation(
    "Readiness: the database and Redis answer", response=Readiness, errors=(ErrorCode.UNAVAILABLE,)
)
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
