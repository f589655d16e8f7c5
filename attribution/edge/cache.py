"""``resolve``: the cheapest-first ladder from a code to its :class:`LinkEntry`.

memory (an LRU per process, fresh for ``cache_ttl_s``) → Redis (shared, ``hub:link:<code>``)
→ the resolver handed in (SQL). Unknown codes are cached as unknown too, for
``negative_ttl_s``, in memory and in Redis, so a scan of random codes reaches SQL once per
code and window. Concurrent misses of one code share one lookup. Redis failing is not an
error here: the ladder skips it (logged once per outage) and goes on to SQL.

A change of a link (disable, expiry) is seen by other processes within ``cache_ttl_s``: the
API deletes the Redis key and this process's entry (:meth:`LinkCache.forget`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from attribution.edge.entry import LinkEntry, Resolver, entry_from_json, entry_to_json

__all__ = ["UNKNOWN", "LinkCache", "redis_key"]

log = structlog.get_logger("attribution.edge")

# Stored for codes that no link has (memory and Redis).
UNKNOWN = "-"
_KEY_PREFIX = "hub:link:"


def redis_key(code: str) -> str:
    return _KEY_PREFIX + code


class LinkCache:
    """The resolve ladder; :meth:`get` is the hot path, :meth:`resolve` the miss."""

    def __init__(
        self,
        resolver: Resolver,
        redis: Redis | None,
        *,
        max_entries: int,
        ttl_s: float,
        negative_ttl_s: float,
        redis_ttl_s: int,
    ) -> None:
        self._resolver = resolver
        self._redis = redis
        self._max = max_entries
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._redis_ttl_s = redis_ttl_s
        # code -> (fresh until, monotonic; entry or None for unknown)
        self._memory: OrderedDict[str, tuple[float, LinkEntry | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[LinkEntry | None]] = {}
        self._redis_ok = True

    def get(self, code: str) -> tuple[bool, LinkEntry | None]:
        """``(True, entry-or-None)`` when memory knows the code, ``(False, None)`` otherwise."""
        hit = self._memory.get(code)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        self._memory.move_to_end(code)
        return True, hit[1]

    def forget(self, code: str) -> None:
        self._memory.pop(code, None)

    async def resolve(self, code: str) -> LinkEntry | None:
        """Redis, then the resolver; one lookup per code at a time."""
        pending = self._inflight.get(code)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[LinkEntry | None] = asyncio.get_running_loop().create_future()
        self._inflight[code] = future
        try:
            entry = await self._lookup(code)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            self._inflight.pop(code, None)
        future.set_result(entry)
        self._remember(code, entry)
        return entry

    async def _lookup(self, code: str) -> LinkEntry | None:
        key = redis_key(code)
        if self._redis is not None:
            try:
                raw = await self._redis.get(key)
                self._redis_ok = True
            except (RedisError, OSError) as exc:
                raw = None
                if self._redis_ok:
                    log.warning("link_cache_redis_unavailable", error=type(exc).__name__)
                self._redis_ok = False
            if raw is not None:
                return None if raw in (UNKNOWN, UNKNOWN.encode()) else entry_from_json(raw)
        entry = await self._resolver(code)
        if self._redis is not None and self._redis_ok:
            try:
                if entry is None:
                    await self._redis.set(key, UNKNOWN, ex=max(1, int(self._negative_ttl_s)))
                else:
                    await self._redis.set(key, entry_to_json(entry), ex=self._redis_ttl_s)
            except (RedisError, OSError):
                self._redis_ok = False
        return entry

    def _remember(self, code: str, entry: LinkEntry | None) -> None:
        ttl = self._ttl_s if entry is not None else self._negative_ttl_s
        self._memory[code] = (time.monotonic() + ttl, entry)
        self._memory.move_to_end(code)
        while len(self._memory) > self._max:
            self._memory.popitem(last=False)
