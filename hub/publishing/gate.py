"""The policy gate and the rate limit of one account, fed from the database.

`snapshot` reads the account's recent posts (published, being published or of unknown
outcome, newest first, as far back as the rules look) for the pure `policy.decide`; `bucket`
says which shared token bucket an account's calls take from, and `app_block_key` which key
the application it posts through is blocked under when the app's own quota is spent (X's
app-wide 24-hour counter): every account of that app then waits, not only the one told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from connectors import Connector, RateScope
from hub.config import PolicyRules, Settings
from hub.publishing.policy import Candidate, Decision, RecentPost, decide, lookback, rules_of
from hub.publishing.ratelimit import Bucket
from hub.publishing.similarity import fingerprint
from hub.publishing.states import TargetState
from hub.storage.models import ChannelAccount, Share, ShareTarget

__all__ = [
    "SNAPSHOT_LIMIT",
    "app_block_key",
    "bucket",
    "check",
    "lock_account",
    "rules_for",
    "snapshot",
]

SNAPSHOT_LIMIT = 500
_POSTED = (TargetState.PUBLISHED, TargetState.PUBLISHING, TargetState.UNKNOWN)


def rules_for(settings: Settings, kind: str, account_policy: dict[str, object]) -> PolicyRules:
    return settings.policy.for_kind(kind, dict(account_policy))


async def lock_account(session: AsyncSession, account_id: int) -> None:
    """Serialise gate + claim per account: a row lock on PostgreSQL (``SELECT … FOR
    UPDATE``), the database write lock on SQLite (which has no row locks: a no-op UPDATE
    takes it). Without it two workers could both see a free slot and both post."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(ChannelAccount.id).where(ChannelAccount.id == account_id).with_for_update()
        )
        return
    await session.execute(
        update(ChannelAccount)
        .where(ChannelAccount.id == account_id)
        .values(status=ChannelAccount.status)
        .execution_options(synchronize_session=False)
    )


async def snapshot(
    session: AsyncSession,
    account_id: int,
    rules: PolicyRules,
    now: datetime,
    *,
    exclude_target: int,
) -> list[RecentPost]:
    span = lookback(rules_of(rules))
    if not span:
        return []
    at = func.coalesce(ShareTarget.published_at, ShareTarget.due_at)
    rows = await session.execute(
        select(at, Share.product_id, ShareTarget.text)
        .join(Share, Share.id == ShareTarget.share_id)
        .where(
            ShareTarget.channel_account_id == account_id,
            ShareTarget.state.in_([s.value for s in _POSTED]),
            ShareTarget.id != exclude_target,
            at > now - span,
        )
        .order_by(at.desc())
        .limit(SNAPSHOT_LIMIT)
    )
    return [
        RecentPost(at=when, product_id=product_id, fingerprint=fingerprint(text or ""))
        for when, product_id, text in rows
    ]


async def check(
    session: AsyncSession,
    *,
    account_id: int,
    target_id: int,
    product_id: int,
    text: str,
    rules: PolicyRules,
    timezone: str,
    now: datetime,
) -> Decision:
    recent = await snapshot(session, account_id, rules, now, exclude_target=target_id)
    candidate = Candidate(product_id=product_id, fingerprint=fingerprint(text))
    return decide(rules_of(rules), recent, candidate, now, ZoneInfo(timezone))


def bucket(connector: Connector[Any], account_id: int, rules: PolicyRules) -> Bucket | None:
    """The account's shared bucket: its policy's rate, else the channel's documented one."""
    if rules.rate_count is not None and rules.rate_window_s is not None:
        return Bucket(f"acct:{account_id}", rules.rate_count, rules.rate_window_s, rules.rate_burst)
    rate = connector.limits.rate
    if rate is None:
        return None
    key = f"app:{connector.kind}" if rate.scope is RateScope.APP else f"acct:{account_id}"
    return Bucket(key, rate.count, rate.window_s, rules.rate_burst)


def app_block_key(connector: Connector[Any], config: Any) -> str | None:
    """The limiter key of the app the account posts through (`Connector.app_key`), keyed by
    the app, so that accounts of two apps never block each other; None when it names none."""
    app = connector.app_key(config)
    return None if app is None else f"app:{app}"
