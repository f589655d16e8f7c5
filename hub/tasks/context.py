"""What a job gets: the settings and the resources of the process running it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis

from hub.config import Settings
from hub.security import Vault
from hub.storage.db import SessionFactory, create_engine, session_factory

__all__ = ["TaskContext", "open_context", "open_redis"]


@dataclass(frozen=True, slots=True)
class TaskContext:
    settings: Settings
    sessions: SessionFactory
    vault: Vault
    http: aiohttp.ClientSession
    redis: Redis | None


def open_redis(settings: Settings) -> Redis | None:
    if not settings.redis.url:
        return None
    return Redis.from_url(settings.redis.url, max_connections=settings.redis.max_connections)


@asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[TaskContext]:
    """Open every resource a job may use; close them all on the way out."""
    engine = create_engine(settings.database)
    redis = open_redis(settings)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        yield TaskContext(
            settings=settings,
            sessions=session_factory(engine),
            vault=Vault(settings.security.secret_key.get_secret_value()),
            http=http,
            redis=redis,
        )
    finally:
        await http.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
