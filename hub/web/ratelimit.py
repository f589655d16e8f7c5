"""A per-key rate limit on ``/api``: a token bucket kept by GCRA, shared by all web processes.

Each API key may make ``api.requests_per_minute`` requests: all of them at once, then one
every ``60 / N`` seconds (the generic cell rate algorithm: one number per key, the
*theoretical arrival time*, is all the state). In production the state lives in Redis and is
read and written by one Lua script, so every web process on every machine counts against the
same bucket and two requests never race; on the embedded profile it lives in this process.

Every answer carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
(unix seconds when the bucket is full again). Over the limit: 429 ``rate_limited`` with
``Retry-After`` (whole seconds until the next request is allowed). If Redis cannot be reached,
each web process keeps the key's bucket itself until it can again (a warning is logged per
failed request): the API stays up, and a key gets at most the limit per process rather than
no limit at all.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import PRINCIPAL, REDIS, SETTINGS
from hub.web.middleware import Handler

__all__ = ["Decision", "RateLimiter", "gcra", "rate_limit"]

log = structlog.get_logger("hub.web")

PERIOD_S = 60.0
_EPSILON = 1e-6
_PRUNE_AT = 10_000

# KEYS[1]: the key's bucket; ARGV: period in seconds, limit. The server's clock, so that
# every web process agrees. Floats go back as strings (Lua numbers become integers).
_LUA = """
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, tostring(allow_at - now), tostring(tat - now), tostring(now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return {1, '0', tostring(new_tat - now), tostring(now)}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float
    # Seconds until the bucket is full again, and the clock the decision was made at.
    reset_after_s: float
    now: float

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.now + self.reset_after_s)),
        }


def _remaining(limit: int, reset_after_s: float, period_s: float) -> int:
    interval = period_s / limit
    return max(0, min(limit, math.floor((period_s - reset_after_s) / interval + _EPSILON)))


def _decision(
    limit: int, allowed: bool, retry_s: float, reset_s: float, now: float, period_s: float
) -> Decision:
    remaining = _remaining(limit, reset_s, period_s) if allowed else 0
    return Decision(allowed, limit, remaining, retry_s, reset_s, now)


def gcra(
    tat: float | None, now: float, limit: int, period_s: float = PERIOD_S
) -> tuple[Decision, float | None]:
    """Decide one request; returns the decision and the new arrival time (None: unchanged).

    The pure twin of the Lua script, used in process.
    """
    interval = period_s / limit
    tat = now if tat is None or tat < now else tat
    new_tat = tat + interval
    allow_at = new_tat - period_s
    if now < allow_at:
        return _decision(limit, False, allow_at - now, tat - now, now, period_s), None
    return _decision(limit, True, 0.0, new_tat - now, now, period_s), new_tat


class RateLimiter:
    """Buckets per API key: in Redis when the app has one, in this process otherwise."""

    def __init__(self, period_s: float = PERIOD_S) -> None:
        self._period_s = period_s
        self._tats: dict[int, float] = {}
        self._scripts: dict[int, AsyncScript] = {}

    async def hit(self, key_id: int, limit: int, redis: Redis | None) -> Decision:
        if redis is None:
            return self._local(key_id, limit)
        try:
            return await self._redis(redis, key_id, limit)
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_local", key_id=key_id, error=type(exc).__name__)
            return self._local(key_id, limit)

    def _local(self, key_id: int, limit: int) -> Decision:
        now = time.time()
        decision, new_tat = gcra(self._tats.get(key_id), now, limit, self._period_s)
        if new_tat is not None:
            self._tats[key_id] = new_tat
            if len(self._tats) > _PRUNE_AT:
                self._tats = {k: t for k, t in self._tats.items() if t > now}
        return decision

    async def _redis(self, redis: Redis, key_id: int, limit: int) -> Decision:
        script = self._scripts.get(id(redis))
        if script is None:
            script = self._scripts[id(redis)] = redis.register_script(_LUA)
        reply: list[Any] = await script(
            keys=[f"hub:ratelimit:{key_id}"], args=[self._period_s, limit]
        )
        allowed, retry_s, reset_s, now = (float(x) for x in reply)
        return _decision(limit, allowed == 1, retry_s, reset_s, now, self._period_s)


def rate_limit(limiter: RateLimiter | None = None) -> Middleware:
    """The middleware; put it after ``auth`` on the ``/api`` sub-app."""
    buckets = limiter or RateLimiter()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = request.config_dict[SETTINGS].api.requests_per_minute
        caller = request.get(PRINCIPAL)
        if limit == 0 or caller is None:
            return await handler(request)
        decision = await buckets.hit(caller.key_id, limit, request.config_dict.get(REDIS))
        headers = decision.headers()
        if not decision.allowed:
            retry_after = max(1, math.ceil(decision.retry_after_s))
            raise ApiError(
                ErrorCode.RATE_LIMITED,
                f"rate limit of {limit} requests per minute reached; retry in {retry_after} s",
                {"limit_per_minute": limit, "retry_after_s": retry_after},
                headers={**headers, "Retry-After": str(retry_after)},
            )
        try:
            response = await handler(request)
        except (ApiError, web.HTTPException) as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    return middleware
