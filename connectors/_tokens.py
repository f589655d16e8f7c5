"""Access tokens shared by every worker that talks to one channel account.

Some channels (WeChat Official Account) hand out a short-lived access token per app, and
fetching a new one can invalidate the old one. Many workers must therefore share one token and
never stampede the token endpoint. A `TokenStore` is where the token lives; its
`get_or_refresh` is the single-flight primitive: when the token is missing, or the caller saw
it rejected (`stale`), exactly one caller — across processes, for a shared store — runs
`refresh`, and every other caller gets that caller's result.

Stores: `MemoryTokenStore` here (one process; the connector's default), and a Redis store in the
hub (``hub.channels.tokens.RedisTokenStore``) for many workers. Waiting for another process is
the store's business: connectors themselves never sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["FreshToken", "MemoryTokenStore", "Refresher", "TokenStore"]


@dataclass(frozen=True, slots=True)
class FreshToken:
    """A token just fetched, and for how long the store may hand it out (``ttl_s`` > 0).

    The caller subtracts its early-refresh margin from the channel's lifetime before building
    this, so a stored token is never served close to its real expiry.
    """

    value: str
    ttl_s: float

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("a token must not be empty")
        if self.ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")

    def __repr__(self) -> str:  # never show the token itself
        return f"FreshToken(value=<{len(self.value)} chars>, ttl_s={self.ttl_s!r})"


Refresher = Callable[[], Awaitable[FreshToken]]


@runtime_checkable
class TokenStore(Protocol):
    """Where a channel account's access token lives; keys are chosen by the connector."""

    async def get(self, key: str) -> str | None:
        """The unexpired token under `key`, or ``None``."""

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        """Store `value` under `key` for `ttl_s` seconds."""

    async def get_or_refresh(
        self, key: str, refresh: Refresher, *, stale: str | None = None
    ) -> str:
        """The token under `key`. When there is none, or it equals `stale` (the caller saw
        the channel reject it), run `refresh` in exactly one caller at a time, store its
        result and return it; concurrent callers get the same new token. An exception from
        `refresh` propagates to the caller that ran it; the others try again themselves."""


class MemoryTokenStore:
    """A `TokenStore` for one process (the default; also what tests use).

    Single flight is an in-process future per key: the first caller refreshes, the others
    await its future. Futures are created on the running loop and dropped when done, so the
    store may be used from successive event loops (one at a time).
    """

    __slots__ = ("_clock", "_inflight", "_values")

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._values: dict[str, tuple[str, float]] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self._clock = clock

    async def get(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if self._clock() >= expires_at:
            del self._values[key]
            return None
        return value

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self._values[key] = (value, self._clock() + ttl_s)

    async def get_or_refresh(
        self, key: str, refresh: Refresher, *, stale: str | None = None
    ) -> str:
        while True:
            current = await self.get(key)
            if current is not None and current != stale:
                return current
            pending = self._inflight.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except Exception:  # the leader failed: try ourselves
                continue
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            token = await refresh()
            await self.set(key, token.value, token.ttl_s)
            future.set_result(token.value)
            return token.value
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: followers that are gone must not warn
            raise
        finally:
            self._inflight.pop(key, None)

    def __repr__(self) -> str:
        return f"<MemoryTokenStore keys={len(self._values)}>"
