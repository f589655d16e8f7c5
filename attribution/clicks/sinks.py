"""Sinks: where the edge puts click events, off the request path, in batches.

- :class:`RedisStreamSink` (production): events collect in a list; a flusher task sends
  them as one stream entry (``XADD <stream> * b <batch>``) when ``batch_max_events`` have
  come or ``batch_max_delay_ms`` have passed since the first, whichever is sooner. One Redis
  command per batch, not per click: that is what keeps the edge near the bare framework's
  speed. When Redis fails or does not answer within ``_SEND_TIMEOUT_S``, the batch goes to
  the :class:`~attribution.clicks.spool.Spool` and later batches too, until Redis answers
  again (tried every ``redis_retry_s``); then the spool is replayed into the stream first.
- :class:`BufferSink` (embedded): events collect in process and are written to SQL every
  ``flush_every_s`` (sooner when the batch is full), and on shutdown. A write that fails is
  retried on the next flush; at shutdown it goes to the spool, replayed at the next start.

``put`` never blocks and never raises. What a hard kill (SIGKILL, power loss) can lose is
bounded by the batch: at most ``batch_max_delay_ms`` (or ``flush_every_s``) of clicks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from attribution.clicks.events import Click, Event, Preview, decode_batch, encode_batch
from attribution.clicks.spool import Spool

__all__ = ["BufferSink", "RedisStreamSink"]

log = structlog.get_logger("attribution.clicks")

_SEND_TIMEOUT_S = 3.0
_IDLE_CHECK_S = 30.0
Store = Callable[[list[Click], list[Preview]], Awaitable[object]]


class _Batcher:
    """The shared part: a list, a wake-up event, a flusher task, a clean close."""

    def __init__(self, max_events: int, max_delay_s: float) -> None:
        self._buf: list[Event] = []
        self._max = max_events
        self._delay_s = max_delay_s
        self._wake = asyncio.Event()
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None

    def put(self, event: Event) -> None:
        buf = self._buf
        buf.append(event)
        n = len(buf)
        if n == 1:
            self._loop.call_later(self._delay_s, self._wake.set)
        elif n >= self._max:
            self._wake.set()

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name=type(self).__name__)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_IDLE_CHECK_S):
                    await self._wake.wait()
            self._wake.clear()
            batch, self._buf = self._buf, []
            try:
                await self._flush(batch)
            except Exception:  # the flusher must outlive any one failure
                log.exception("click_flush_failed", events=len(batch))
            if self._closing and not self._buf:
                return

    async def _flush(self, batch: list[Event]) -> None:
        raise NotImplementedError


class RedisStreamSink(_Batcher):
    def __init__(
        self,
        redis: Redis,
        spool: Spool,
        *,
        stream_key: str,
        max_events: int,
        max_delay_s: float,
        retry_s: float,
    ) -> None:
        super().__init__(max_events, max_delay_s)
        self._redis = redis
        self._spool = spool
        self._key = stream_key
        self._retry_s = retry_s
        self._down_until = 0.0

    async def _flush(self, batch: list[Event]) -> None:
        payload = encode_batch(batch) if batch else b""
        if time.monotonic() < self._down_until:
            if payload:
                self._spool.append(payload)
            return
        try:
            if self._spool.pending:
                await self._spool.replay(self._send)
            if payload:
                await self._send(payload)
        except (RedisError, OSError, TimeoutError) as exc:
            if self._down_until == 0.0:
                log.warning("click_stream_unavailable_spooling", error=type(exc).__name__)
            self._down_until = time.monotonic() + self._retry_s
            if payload:
                self._spool.append(payload)
            if not self._closing:
                self._loop.call_later(self._retry_s, self._wake.set)
            return
        if self._down_until:
            log.info("click_stream_available_again")
        self._down_until = 0.0

    async def _send(self, payload: bytes) -> None:
        async with asyncio.timeout(_SEND_TIMEOUT_S):
            await self._redis.xadd(self._key, {"b": payload})

    async def close(self) -> None:
        await super().close()
        self._spool.close()


class BufferSink(_Batcher):
    def __init__(self, store: Store, spool: Spool, *, max_events: int, every_s: float) -> None:
        super().__init__(max_events, every_s)
        self._store = store
        self._spool = spool

    def start(self) -> None:
        super().start()
        if self._spool.pending:
            self._wake.set()

    async def _flush(self, batch: list[Event]) -> None:
        if self._spool.pending:
            await self._spool.replay(self._store_line)
        if not batch:
            return
        clicks = [e for e in batch if isinstance(e, Click)]
        previews = [e for e in batch if isinstance(e, Preview)]
        try:
            await self._store(clicks, previews)
        except Exception:
            log.exception("click_store_failed", events=len(batch))
            if self._closing:
                self._spool.append(encode_batch(batch))
            else:
                self._buf[:0] = batch  # first in the next flush
                self._loop.call_later(self._delay_s, self._wake.set)

    async def _store_line(self, line: bytes) -> None:
        decoded = decode_batch(line)
        await self._store(decoded.clicks, decoded.previews)

    async def close(self) -> None:
        await super().close()
        self._spool.close()
