"""When a target is due: ``at`` as an ISO 8601 time with its zone, ``now`` or ``best``.

``best`` is the next start of one of the account's best hours of the week, learned from the
clicks on its own tracked links over the last `LOOKBACK` (people only, counted per local
weekday and hour in the merchant's time zone); with fewer than `MIN_CLICKS` clicks it falls
back to the channel kind's usual good hours. The policy gate still applies afterwards.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.storage.models import ChannelAccount, Click, Link

__all__ = ["DEFAULT_HOURS", "best_hours", "next_slot", "resolve_at"]

LOOKBACK = timedelta(days=90)
MIN_CLICKS = 30
TOP = 3
# Local hours (every day) when a kind's audience reads, before the account has data.
DEFAULT_HOURS: dict[str, tuple[int, ...]] = {
    "telegram": (9, 13, 19),
    "discord": (12, 18, 21),
    "slack": (9, 11, 14),
    "email": (8, 12),
    "default": (10, 13, 19),
}


def next_slot(now: datetime, tz: ZoneInfo, slots: set[tuple[int | None, int]]) -> datetime:
    """The next start of an hour in `slots` ((weekday or None for every day, hour), local)."""
    local = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    for step in range(1, 24 * 8 + 1):
        candidate = (local + timedelta(hours=step)).astimezone(tz)
        if (candidate.weekday(), candidate.hour) in slots or (None, candidate.hour) in slots:
            moment = candidate.astimezone(ZoneInfo("UTC"))
            if moment > now:
                return moment
    return now


async def best_hours(
    session: AsyncSession, account: ChannelAccount, tz: ZoneInfo, now: datetime
) -> set[tuple[int | None, int]]:
    rows = await session.scalars(
        select(Click.at)
        .join(Link, Link.id == Click.link_id)
        .where(
            Link.channel_account_id == account.id,
            Click.is_bot.is_(False),
            Click.at >= now - LOOKBACK,
        )
        .limit(50_000)
    )
    counts = Counter((local.weekday(), local.hour) for local in (at.astimezone(tz) for at in rows))
    if sum(counts.values()) >= MIN_CLICKS:
        return {slot for slot, _ in counts.most_common(TOP)}
    hours = DEFAULT_HOURS.get(account.kind, DEFAULT_HOURS["default"])
    return {(None, hour) for hour in hours}


async def resolve_at(
    session: AsyncSession, at: str, account: ChannelAccount, timezone: str, now: datetime
) -> datetime:
    """The due time of `account`'s target; ValueError names what is wrong with `at`."""
    if at == "now":
        return now
    tz = ZoneInfo(timezone)
    if at == "best":
        return next_slot(now, tz, await best_hours(session, account, tz, now))
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise ValueError("expected an ISO 8601 time with its zone, 'now' or 'best'") from None
    if when.tzinfo is None:
        raise ValueError("expected a time with a zone offset, e.g. 2030-01-01T09:00:00+01:00")
    return max(when.astimezone(ZoneInfo("UTC")), now)
