"""Settling a share when its last target settles, and recycling evergreen shares.

When no target of a share is waiting, publishing or of unknown outcome any more, the share
becomes ``done`` (a conditional UPDATE: of two workers settling its last two targets at once,
one wins). An evergreen share (``recycle_days``) that got at least one post then makes its
successor: the same product, channels, campaign and texts, due ``recycle_days`` after its last
post, in the same series. Cancelling the newest share of a series ends the recycling.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.publishing.states import TargetState
from hub.storage.models import Share, ShareTarget

__all__ = ["settle_share"]

log = structlog.get_logger("hub.publishing")
_OPEN = [
    s.value
    for s in (
        TargetState.SCHEDULED,
        TargetState.DEFERRED,
        TargetState.RETRYING,
        TargetState.PUBLISHING,
        TargetState.UNKNOWN,
    )
]


async def settle_share(session: AsyncSession, share_id: int, settings: Settings) -> int | None:
    """Mark the share done if nothing is left to do; returns the evergreen successor's id."""
    open_left = await session.scalar(
        select(ShareTarget.id)
        .where(ShareTarget.share_id == share_id, ShareTarget.state.in_(_OPEN))
        .limit(1)
    )
    if open_left is not None:
        return None
    recycle_days = (
        await session.execute(
            update(Share)
            .where(Share.id == share_id, Share.state == "scheduled")
            .values(state="done")
            .returning(Share.recycle_days)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()
    if not recycle_days:  # not ours to settle (None), or not evergreen
        return None
    share = await session.get(Share, share_id)
    assert share is not None and share.recycle_days
    targets = list(
        await session.scalars(
            select(ShareTarget).where(ShareTarget.share_id == share_id).order_by(ShareTarget.id)
        )
    )
    posted = [t.published_at for t in targets if t.published_at is not None]
    if not posted:
        return None
    from hub.publishing.shares import ShareIn, create_share  # shares imports this package

    data = ShareIn(
        product_id=share.product_id,
        channel_ids=[t.channel_account_id for t in targets],
        at=(max(posted) + timedelta(days=share.recycle_days)).isoformat(),
        campaign_id=share.campaign_id,
        text=dict(share.text_overrides or {}),
        recycle_days=share.recycle_days,
    )
    out = await create_share(session, share.merchant_id, data, settings=settings)
    successor = await session.get(Share, out.id)
    assert successor is not None
    successor.series_id = share.series_id or share.id
    log.info("evergreen_recycled", share_id=share_id, next_share_id=out.id)
    return out.id
