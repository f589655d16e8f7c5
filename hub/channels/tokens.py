"""Channel access tokens shared by every worker process, in Redis.

`RedisTokenStore` implements `connectors.TokenStore`: the token lives under its key with a
TTL (the connector already took its early-refresh margin off), and `get_or_refresh` is single
flight across processes — ``SET lock NX PX`` elects one refresher; the others poll the token
key every `poll_s` until a token other than the rejected one appears, or take over the lock if
the refresher died (the lock expires after `lock_ttl_s`). The lock is released only by its
owner (compare-and-delete in Lua). Tokens are never logged.

`bind_token_store` hands a shared store to connectors that keep tokens (WeChat Official
Account) and leaves the others untouched.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import structlog
from redis.asyncio import Redis

from connectors import Connector, FreshToken, TokenStore

__all__ = ["RedisTokenStore", "bind_token_store"]

log = structlog.get_logger("hub.channels.tokens")

Refresher = Callable[[], Awaitable[FreshToken]]
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    """A `TokenStore` in Redis, shared by all workers of all machines."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "hub:",
        lock_ttl_s: float = 30.0,
        poll_s: float = 0.05,
        wait_s: float | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._poll_s = poll_s
        self._wait_s = wait_s if wait_s is not None else lock_ttl_s * 2

    def _key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(self._key(key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        await self._redis.set(self._key(key), value, px=max(1, int(ttl_s * 1000)))

    async def get_or_refresh(
        self, key: str, refresh: Refresher, *, stale: str | None = None
    ) -> str:
        lock = self._key(f"{key}:refresh-lock")
        deadline = time.monotonic() + self._wait_s
        while True:
            current = await self.get(key)
            if current is not None and current != stale:
                return current
            owner = secrets.token_hex(16)
            if await self._redis.set(lock, owner, nx=True, px=self._lock_ttl_ms):
                try:
                    return await self._refresh(key, refresh, stale)
                finally:
                    await self._redis.eval(_RELEASE, 1, lock, owner)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"token refresh for {key} did not finish in time")
            await asyncio.sleep(self._poll_s)

    async def _refresh(self, key: str, refresh: Refresher, stale: str | None) -> str:
        current = await self.get(key)  # another process may have refreshed meanwhile
        if current is not None and current != stale:
            return current
        token = await refresh()
        await self.set(key, token.value, token.ttl_s)
        log.info("channel_token_refreshed", key=key.split(":")[0], ttl_s=round(token.ttl_s))
        return token.value

    def __repr__(self) -> str:
        return f"<RedisTokenStore prefix={self._prefix!r}>"


@runtime_checkable
class _TokenUser(Protocol):
    def with_token_store(self, tokens: TokenStore) -> Any: ...


_C = TypeVar("_C", bound=Connector[Any])


def bind_token_store(connector: _C, tokens: TokenStore) -> _C:
    """`connector` using `tokens` when it keeps access tokens, else `connector` itself."""
    if isinstance(connector, _TokenUser):
        bound: _C = connector.with_token_store(tokens)
        return bound
    return connector
