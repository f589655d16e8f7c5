"""Writing click batches to SQL: one transaction, a few batched statements, idempotent.

For a batch of events:

1. uniqueness: a :class:`UniqueGate` says which person clicks are the first of their visitor
   on their link within ``edge.unique_window_s`` (Redis ``SET key click_id NX GET EX`` in
   production, shared by every drain worker; a map in process on the embedded profile). The
   gate remembers the click id it let through, so a batch replayed after a crash gets the
   same answer;
2. clicks of links that no longer exist are dropped (one ``SELECT id ... IN``);
3. ``visitors`` upserted ``ON CONFLICT DO NOTHING``; ``clicks`` inserted
   ``ON CONFLICT (click_id) DO NOTHING`` (executemany, never an ORM object per row);
   previews summed per link, UTC day and crawler and upserted into ``link_preview_days``.
   The triggers on ``clicks`` add the new clicks to ``click_buckets`` (migration 0006): the
   clicks go in ordered by merchant, 15-minute bucket and link, the buckets' key, so that
   concurrent drains take the bucket rows in one order (no deadlock), and in multi-row
   statements (``RETURNING`` makes SQLAlchemy batch them), so that PostgreSQL's
   statement-level trigger runs once per statement, not once per click;
4. commit. The caller acknowledges the batch only after this returns.

A preview batch replayed after a crash between commit and acknowledgement is counted twice;
clicks never are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.clicks.events import Click, Preview
from hub.storage.db import SessionFactory
from hub.storage.models import BUCKET_S, Link, LinkPreviewDay, Visitor
from hub.storage.models import Click as ClickRow

__all__ = ["MemoryUniqueGate", "RedisUniqueGate", "Stored", "UniqueGate", "store_events"]


class UniqueGate(Protocol):
    async def unique(self, clicks: Sequence[Click]) -> set[str]:
        """Click ids of the person clicks that count as unique."""
        ...


class MemoryUniqueGate:
    """One process's memory of (link, visitor) → first click in the window (embedded)."""

    def __init__(self, window_s: float, max_entries: int = 200_000) -> None:
        self._window_s = window_s
        self._max = max_entries
        self._seen: dict[tuple[int, str], tuple[float, str]] = {}

    async def unique(self, clicks: Sequence[Click]) -> set[str]:
        out: set[str] = set()
        for click in sorted(clicks, key=lambda c: c.at):
            if click.is_bot or click.visitor_id is None:
                continue
            key = (click.link_id, click.visitor_id)
            seen = self._seen.get(key)
            if seen is None or click.at - seen[0] >= self._window_s or seen[1] == click.click_id:
                if seen is None or seen[1] != click.click_id:
                    self._seen[key] = (click.at, click.click_id)
                out.add(click.click_id)
        if len(self._seen) > self._max:
            horizon = max(c.at for c in clicks) - self._window_s
            self._seen = {k: v for k, v in self._seen.items() if v[0] > horizon}
        return out


_UNIQUE_SCRIPT = """
local out = {}
for i = 1, #KEYS do
  local before = redis.call('SET', KEYS[i], ARGV[i + 1], 'NX', 'GET', 'EX', ARGV[1])
  if (not before) or before == ARGV[i + 1] then out[#out + 1] = i end
end
return out
"""
_UNIQUE_CHUNK = 2000


class RedisUniqueGate:
    """``SET hub:uniq:<link>:<visitor> <click_id> NX GET EX window`` for every person click.

    Run by one Lua script per 2,000 clicks: one command instead of one per click (the
    client's per-command work, not Redis, is what costs).
    """

    def __init__(self, redis: Redis, window_s: int) -> None:
        self._redis = redis
        self._window_s = window_s
        self._script = redis.register_script(_UNIQUE_SCRIPT)

    async def unique(self, clicks: Sequence[Click]) -> set[str]:
        people = [c for c in sorted(clicks, key=lambda c: c.at) if not c.is_bot and c.visitor_id]
        out: set[str] = set()
        for start in range(0, len(people), _UNIQUE_CHUNK):
            chunk = people[start : start + _UNIQUE_CHUNK]
            keys = [f"hub:uniq:{c.link_id}:{c.visitor_id}" for c in chunk]
            args: list[str | int] = [self._window_s, *(c.click_id for c in chunk)]
            for index in await self._script(keys=keys, args=args):
                out.add(chunk[int(index) - 1].click_id)
        return out


@dataclass(frozen=True, slots=True)
class Stored:
    clicks: int
    previews: int
    dropped: int


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def store_events(
    sessions: SessionFactory,
    clicks: Sequence[Click],
    previews: Sequence[Preview],
    gate: UniqueGate,
) -> Stored:
    """Writes one batch in one transaction (see the module's docstring)."""
    unique = await gate.unique(clicks)
    async with sessions() as session, session.begin():
        link_ids = {c.link_id for c in clicks} | {p.link_id for p in previews}
        live: set[int] = set()
        if link_ids:
            live = set(await session.scalars(select(Link.id).where(Link.id.in_(link_ids))))
        kept = [c for c in clicks if c.link_id in live]
        kept_previews = [p for p in previews if p.link_id in live]
        visitors = {(c.merchant_id, c.visitor_id): c.at for c in reversed(kept) if c.visitor_id}
        if visitors:
            stmt = _insert(session, Visitor.__table__).on_conflict_do_nothing(
                index_elements=["merchant_id", "visitor_id"]
            )
            await session.execute(
                stmt,
                [
                    {"merchant_id": m, "visitor_id": v, "first_seen_at": _at(at)}
                    for (m, v), at in visitors.items()
                ],
            )
        if kept:
            stmt = (
                _insert(session, ClickRow.__table__)
                .on_conflict_do_nothing(index_elements=["click_id"])
                .returning(ClickRow.__table__.c.id)
            )
            kept.sort(key=lambda c: (c.merchant_id, int(c.at // BUCKET_S), c.link_id))
            await session.execute(
                stmt,
                [
                    {
                        "click_id": c.click_id,
                        "merchant_id": c.merchant_id,
                        "link_id": c.link_id,
                        "visitor_id": c.visitor_id,
                        "at": _at(c.at),
                        "is_bot": c.is_bot,
                        "is_unique": c.click_id in unique,
                        "ip": c.ip,
                        "user_agent": c.user_agent,
                        "referrer": c.referrer,
                    }
                    for c in kept
                ],
            )
        if kept_previews:
            counts = Counter((p.link_id, _at(p.at).date(), p.crawler) for p in kept_previews)
            table = LinkPreviewDay.__table__
            stmt = _insert(session, table)
            stmt = stmt.on_conflict_do_update(
                index_elements=["link_id", "day", "crawler"],
                set_={"fetches": table.c.fetches + stmt.excluded.fetches},
            )
            await session.execute(
                stmt,
                [
                    {"link_id": link, "day": day, "crawler": crawler, "fetches": n}
                    for (link, day, crawler), n in counts.items()
                ],
            )
    dropped = len(clicks) - len(kept) + len(previews) - len(kept_previews)
    return Stored(len(kept), len(kept_previews), dropped)
