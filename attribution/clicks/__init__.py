"""Click events off the hot path: sinks, the spool, the stream drain and the SQL writer.

The edge hands each event to a sink (:func:`open_sink` picks it by profile); production
events travel through a Redis stream that :func:`drain` (job ``clicks.drain``) writes to SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from redis.asyncio import Redis

from attribution.clicks.drain import DrainReport, StreamStatus, drain, stream_status
from attribution.clicks.events import Batch, Click, Preview, decode_batch, encode_batch
from attribution.clicks.sinks import BufferSink, RedisStreamSink
from attribution.clicks.spool import Spool
from attribution.clicks.store import (
    MemoryUniqueGate,
    RedisUniqueGate,
    Stored,
    UniqueGate,
    store_events,
)
from hub.config import Profile, Settings
from hub.storage.db import SessionFactory

__all__ = [
    "Batch",
    "BufferSink",
    "Click",
    "DrainReport",
    "MemoryUniqueGate",
    "Preview",
    "RedisStreamSink",
    "RedisUniqueGate",
    "Spool",
    "Stored",
    "StreamStatus",
    "UniqueGate",
    "decode_batch",
    "drain",
    "encode_batch",
    "open_sink",
    "store_events",
    "stream_status",
]


@asynccontextmanager
async def open_sink(
    settings: Settings, *, redis: Redis | None, sessions: SessionFactory
) -> AsyncIterator[RedisStreamSink | BufferSink]:
    """The profile's sink, started; flushed and closed on the way out."""
    edge = settings.edge
    spool = Spool(settings.data_dir / "spool")
    sink: RedisStreamSink | BufferSink
    if settings.profile is Profile.PRODUCTION and redis is not None:
        sink = RedisStreamSink(
            redis,
            spool,
            stream_key=edge.stream_key,
            max_events=edge.batch_max_events,
            max_delay_s=edge.batch_max_delay_ms / 1000,
            retry_s=edge.redis_retry_s,
        )
    else:
        gate = MemoryUniqueGate(edge.unique_window_s)
        sink = BufferSink(
            partial(store_events, sessions, gate=gate),
            spool,
            max_events=max(edge.batch_max_events, 1000),
            every_s=edge.flush_every_s,
        )
    sink.start()
    try:
        yield sink
    finally:
        await sink.close()
