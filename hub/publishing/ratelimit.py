"""Per-account rate limits shared by every worker: a token bucket.

Production keeps each bucket in Redis and updates it in one Lua script (atomic, and timed by
the Redis server's own clock so workers on several machines agree); the embedded profile,
where one process is the whole deployment, keeps its buckets in that process. A bucket holds
at most `burst` tokens and gains `count / window_s` per second; a call takes one token or
learns how long to wait. A channel's 429 `block`s the bucket for its Retry-After, so every
worker waits, not only the one that was told; a block may carry the channel's reason (a quota
used up until the month ends), which each refused caller gets back. When a block ends the
bucket holds one token: the channel has said calls may resume then, and an account at 100
posts a day should not wait another quarter of an hour for its first.

A key may also be used for blocks alone, next to the buckets: an application's (``app:…``),
whose quota every account posting through it shares. `blocked` asks whether such a key is
blocked, taking nothing.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

__all__ = ["Bucket", "Grant", "LocalLimiter", "RateLimiter", "RedisLimiter", "local_limiter"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """`count` calls per `window_s`, in bursts of at most `burst`."""

    key: str
    count: int
    window_s: float
    burst: int = 1

    @property
    def per_s(self) -> float:
        return self.count / self.window_s


@dataclass(frozen=True, slots=True)
class Grant:
    """`reserved`: a token is yours after sleeping `wait_s`; else none was taken and the
    next one is `wait_s` away (`reason`: why, when the bucket is blocked with one)."""

    reserved: bool
    wait_s: float
    reason: str | None = None


class RateLimiter(Protocol):
    async def acquire(self, bucket: Bucket, max_wait_s: float = 0.0) -> Grant:
        """Reserve the next token if it comes within `max_wait_s` (tokens may go negative:
        later callers queue behind the reservations)."""

    async def block(self, key: str, seconds: float, reason: str | None = None) -> None:
        """Nobody takes a token of `key` for `seconds` (the channel said so, for `reason`)."""

    async def blocked(self, key: str) -> Grant | None:
        """How long `key` stays blocked, and why (an unreserved `Grant`); None when it is not.
        Takes no token."""


_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'blocked', 'why')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
local blocked = tonumber(b[3]) or 0
if now < blocked then return {0, tostring(blocked - now), b[4] or ''} end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate end
local reserved = 0
if wait <= max_wait then
  tokens = tokens - 1
  reserved = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], ttl)
return {reserved, tostring(wait)}
"""

_BLOCK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if until_ > current then
  redis.call('HSET', KEYS[1], 'blocked', tostring(until_), 'tokens', '1', 'ts', tostring(until_),
             'why', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 3600)
return 1
"""


_BLOCKED = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'blocked', 'why')
local blocked = tonumber(b[1]) or 0
if now < blocked then return {tostring(blocked - now), b[2] or ''} end
return false
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLimiter:
    """Buckets in Redis under ``hub:rate:<key>``."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._block = redis.register_script(_BLOCK)
        self._blocked = redis.register_script(_BLOCKED)

    async def acquire(self, bucket: Bucket, max_wait_s: float = 0.0) -> Grant:
        ttl = max(60, int(bucket.window_s * 4))
        reserved, wait, *extra = await self._acquire(
            keys=[f"hub:rate:{bucket.key}"],
            args=[bucket.per_s, bucket.burst, ttl, max(0.0, max_wait_s)],
        )
        reason = _text(extra[0]) if extra else ""
        return Grant(bool(int(reserved)), float(wait), reason or None)

    async def block(self, key: str, seconds: float, reason: str | None = None) -> None:
        await self._block(keys=[f"hub:rate:{key}"], args=[max(0.0, seconds), reason or ""])

    async def blocked(self, key: str) -> Grant | None:
        found = await self._blocked(keys=[f"hub:rate:{key}"])
        if not found:
            return None
        wait, why = found
        return Grant(False, float(wait), _text(why) or None)


class LocalLimiter:
    """The same buckets in this process (embedded profile)."""

    def __init__(self) -> None:
        # key -> (tokens, last update, blocked until); no await inside a method, so one
        # event loop needs no lock.
        self._state: dict[str, tuple[float, float, float]] = {}
        self._why: dict[str, str] = {}

    async def acquire(self, bucket: Bucket, max_wait_s: float = 0.0) -> Grant:
        now = time.monotonic()
        tokens, ts, blocked = self._state.get(bucket.key, (float(bucket.burst), now, 0.0))
        if now < blocked:
            return Grant(False, blocked - now, self._why.get(bucket.key) or None)
        tokens = min(float(bucket.burst), tokens + max(0.0, now - ts) * bucket.per_s)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / bucket.per_s
        reserved = wait <= max_wait_s
        if reserved:
            tokens -= 1
        self._state[bucket.key] = (tokens, now, blocked)
        return Grant(reserved, wait)

    async def block(self, key: str, seconds: float, reason: str | None = None) -> None:
        until = time.monotonic() + max(0.0, seconds)
        _, _, blocked = self._state.get(key, (0.0, until, 0.0))
        if until > blocked:
            self._state[key] = (1.0, until, until)
            self._why[key] = reason or ""

    async def blocked(self, key: str) -> Grant | None:
        now = time.monotonic()
        _, _, blocked = self._state.get(key, (0.0, now, 0.0))
        return Grant(False, blocked - now, self._why.get(key) or None) if now < blocked else None


# The embedded profile's buckets, one set per database session factory (that is, per running
# hub): that one process is the whole deployment. Production uses Redis instead.
_LOCAL: weakref.WeakKeyDictionary[object, LocalLimiter] = weakref.WeakKeyDictionary()


def local_limiter(owner: object) -> LocalLimiter:
    """The in-process buckets of the hub that `owner` (its session factory) belongs to."""
    limiter = _LOCAL.get(owner)
    if limiter is None:
        limiter = _LOCAL[owner] = LocalLimiter()
    return limiter
