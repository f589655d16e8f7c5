"""Draining the click stream into SQL (production): read → decode → store → commit → ack.

Each run, as one consumer of the group ``edge.stream_group``:

1. claims entries another consumer read but never acknowledged for ``claim_idle_s``
   (``XAUTOCLAIM``: a drain worker that died mid-batch) and processes them first;
2. reads new entries (``XREADGROUP ... >``), ``drain_count`` at a time, until the stream is
   empty or ``max_s`` has passed;
3. per read: decodes every entry (one that does not validate goes whole to
   ``<stream>:dead`` and is acknowledged), stores all its events in one transaction
   (:func:`~attribution.clicks.store.store_events`), and only after the commit ``XACK`` and
   ``XDEL`` the entries. A crash before the ack leaves them pending: the next claim replays
   them and ``ON CONFLICT (click_id) DO NOTHING`` keeps every click once.

:func:`stream_status` reports the backlog: entries not yet delivered (lag), delivered but
unacknowledged (pending), and the age of the oldest pending entry.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from attribution.clicks.events import Click, Preview, decode_batch
from attribution.clicks.store import UniqueGate, store_events
from hub.config import EdgeSettings
from hub.storage.db import SessionFactory

__all__ = ["DrainReport", "StreamStatus", "consumer_name", "drain", "stream_status"]

log = structlog.get_logger("attribution.clicks")


@dataclass(frozen=True, slots=True)
class DrainReport:
    entries: int
    clicks: int
    previews: int
    claimed: int
    dead: int


@dataclass(frozen=True, slots=True)
class StreamStatus:
    length: int
    # Entries not yet delivered to the group, and delivered but not acknowledged.
    lag: int
    pending: int
    oldest_pending_age_s: float | None


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def ensure_group(redis: Redis, key: str, group: str) -> None:
    try:
        await redis.xgroup_create(key, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def drain(
    redis: Redis,
    sessions: SessionFactory,
    settings: EdgeSettings,
    gate: UniqueGate,
    *,
    consumer: str | None = None,
    max_s: float = 5.0,
) -> DrainReport:
    """One drain run (see the module's docstring)."""
    key, group = settings.stream_key, settings.stream_group
    me = consumer or consumer_name()
    await ensure_group(redis, key, group)
    totals = [0, 0, 0, 0, 0]  # entries, clicks, previews, claimed, dead
    deadline = time.monotonic() + max_s
    cursor: Any = "0-0"
    while True:  # 1. stale entries of dead consumers
        cursor, claimed, *_ = await redis.xautoclaim(
            key,
            group,
            me,
            min_idle_time=int(settings.claim_idle_s * 1000),
            start_id=cursor,
            count=settings.drain_count,
        )
        if claimed:
            totals[3] += len(claimed)
            await _process(redis, sessions, settings, gate, claimed, totals)
        if _text(cursor) == "0-0" or time.monotonic() > deadline:
            break
    while time.monotonic() < deadline:  # 2. new entries
        try:
            answer: Any = await redis.xreadgroup(group, me, {key: ">"}, count=settings.drain_count)
        except ResponseError as exc:  # the stream or group vanished (Redis restarted empty)
            if "NOGROUP" not in str(exc):
                raise
            log.warning("click_stream_group_recreated", stream=key, group=group)
            await ensure_group(redis, key, group)
            continue
        entries = answer[0][1] if answer else []
        if not entries:
            break
        await _process(redis, sessions, settings, gate, entries, totals)
    report = DrainReport(*totals)
    if report.entries:
        status = await stream_status(redis, settings)
        log.info(
            "clicks_drained",
            entries=report.entries,
            clicks=report.clicks,
            previews=report.previews,
            claimed=report.claimed,
            dead=report.dead,
            lag=status.lag,
            pending=status.pending,
            oldest_pending_age_s=status.oldest_pending_age_s,
        )
    return report


async def _process(
    redis: Redis,
    sessions: SessionFactory,
    settings: EdgeSettings,
    gate: UniqueGate,
    entries: list[Any],
    totals: list[int],
) -> None:
    clicks: list[Click] = []
    previews: list[Preview] = []
    ids: list[Any] = []
    for entry_id, fields in entries:
        ids.append(entry_id)
        raw = (fields or {}).get(b"b") or (fields or {}).get("b")
        try:
            batch = decode_batch(raw or b"")
        except ValueError as exc:  # pydantic's ValidationError and json's errors included
            totals[4] += 1
            log.error("click_batch_dead", entry=_text(entry_id), error=str(exc)[:200])
            await redis.xadd(f"{settings.stream_key}:dead", {"b": raw or b"", "error": str(exc)})
            continue
        clicks += batch.clicks
        previews += batch.previews
    if clicks or previews:
        await store_events(sessions, clicks, previews, gate)
    # Only now, after the commit: acknowledge and forget, in one MULTI so that a worker killed
    # here never leaves an acknowledged entry behind in the stream.
    async with redis.pipeline(transaction=True) as tx:
        tx.xack(settings.stream_key, settings.stream_group, *ids)
        tx.xdel(settings.stream_key, *ids)
        await tx.execute()
    totals[0] += len(ids)
    totals[1] += len(clicks)
    totals[2] += len(previews)


async def stream_status(redis: Redis, settings: EdgeSettings) -> StreamStatus:
    """Backlog of the click stream for logs, health checks and the tests."""
    key, group = settings.stream_key, settings.stream_group
    await ensure_group(redis, key, group)
    length = int(await redis.xlen(key))
    groups = await redis.xinfo_groups(key)
    info = next((g for g in groups if _text(g["name"]) == group), {})
    pending = int(info.get("pending") or 0)
    lag_raw = info.get("lag")
    lag = int(lag_raw) if lag_raw is not None else max(length - pending, 0)
    oldest: float | None = None
    if pending:
        summary = await redis.xpending(key, group)
        first = summary.get("min")
        if first:
            ms = int(_text(first).split("-")[0])
            oldest = max(time.time() - ms / 1000, 0.0)
    return StreamStatus(length=length, lag=lag, pending=pending, oldest_pending_age_s=oldest)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
