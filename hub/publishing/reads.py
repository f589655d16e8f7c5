"""Reading shares: one share with every target's state, reason, link, remote URL and
transitions, or a filtered, cursor-paged list (newest first). Every read is scoped by the
merchant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.publishing import links
from hub.publishing.states import TargetState
from hub.storage.models import ChannelAccount, Share, ShareTarget, ShareTargetEvent
from hub.storage.types import RowId

__all__ = ["EventOut", "ShareOut", "ShareQuery", "TargetOut", "get_share", "list_shares"]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("expected a time with a zone offset, e.g. 2030-01-01T09:00:00+01:00")
    return value


class ShareQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: RowId | None = None
    state: TargetState | None = None
    product: RowId | None = None
    channel: RowId | None = None
    series: RowId | None = None
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None

    _aware_from = field_validator("from_", "to")(_aware)


class EventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    reason: str | None
    details: dict[str, Any]


class TargetOut(BaseModel):
    id: int
    channel_id: int
    channel_kind: str
    channel_name: str
    state: str
    reason: str | None
    due_at: datetime
    attempts: int
    link: str | None
    remote_id: str | None
    remote_url: str | None
    published_at: datetime | None
    events: list[EventOut] | None = None


class ShareOut(BaseModel):
    id: int
    product_id: int
    campaign_id: int | None
    at: str
    scheduled_at: datetime
    expires_at: datetime | None
    text: dict[str, str]
    state: str
    rrule: str | None = None
    series_id: int | None = None
    recycle_days: float | None = None
    created_at: datetime
    targets: list[TargetOut]


async def _owned(session: AsyncSession, model: Any, merchant_id: int, row_id: int) -> Any:
    return await session.scalar(
        select(model).where(model.id == row_id, model.merchant_id == merchant_id)
    )


def _target_out(
    target: ShareTarget,
    account: ChannelAccount,
    link: str | None,
    events: list[ShareTargetEvent] | None,
) -> TargetOut:
    return TargetOut(
        id=target.id,
        channel_id=account.id,
        channel_kind=account.kind,
        channel_name=account.name,
        state=target.state,
        reason=target.reason,
        due_at=target.due_at,
        attempts=target.attempts,
        link=link,
        remote_id=target.remote_id,
        remote_url=target.remote_url,
        published_at=target.published_at,
        events=None
        if events is None
        else [
            EventOut(
                at=e.at,
                from_state=e.from_state,
                to_state=e.to_state,
                reason=e.reason,
                details=dict(e.details or {}),
            )
            for e in events
        ],
    )


async def _outs(
    session: AsyncSession, shares: Sequence[Share], *, with_events: bool, settings: Settings
) -> list[ShareOut]:
    ids = [s.id for s in shares]
    if not ids:
        return []
    rows = (
        await session.execute(
            select(ShareTarget, ChannelAccount)
            .join(ChannelAccount, ChannelAccount.id == ShareTarget.channel_account_id)
            .where(ShareTarget.share_id.in_(ids))
            .order_by(ShareTarget.id)
        )
    ).all()
    target_ids = [t.id for t, _ in rows]
    urls = await links.link_urls(session, target_ids, links.base_url(settings))
    events: dict[int, list[ShareTargetEvent]] = {}
    if with_events and target_ids:
        for event in await session.scalars(
            select(ShareTargetEvent)
            .where(ShareTargetEvent.target_id.in_(target_ids))
            .order_by(ShareTargetEvent.id)
        ):
            events.setdefault(event.target_id, []).append(event)
    targets: dict[int, list[TargetOut]] = {}
    for target, account in rows:
        targets.setdefault(target.share_id, []).append(
            _target_out(
                target,
                account,
                urls.get(target.id),
                events.get(target.id, []) if with_events else None,
            )
        )
    return [
        ShareOut(
            id=s.id,
            product_id=s.product_id,
            campaign_id=s.campaign_id,
            at=s.when,
            scheduled_at=s.scheduled_at,
            expires_at=s.expires_at,
            text=dict(s.text_overrides or {}),
            state=s.state,
            rrule=s.rrule,
            series_id=s.series_id,
            recycle_days=s.recycle_days,
            created_at=s.created_at,
            targets=targets.get(s.id, []),
        )
        for s in shares
    ]


async def get_share(
    session: AsyncSession, merchant_id: int, share_id: int, *, settings: Settings
) -> ShareOut | None:
    share = await _owned(session, Share, merchant_id, share_id)
    if share is None:
        return None
    (out,) = await _outs(session, [share], with_events=True, settings=settings)
    return out


async def list_shares(
    session: AsyncSession, merchant_id: int, query: ShareQuery, *, settings: Settings
) -> list[ShareOut]:
    stmt = select(Share).where(Share.merchant_id == merchant_id)
    if query.cursor is not None:
        stmt = stmt.where(Share.id < query.cursor)
    if query.product is not None:
        stmt = stmt.where(Share.product_id == query.product)
    if query.series is not None:
        stmt = stmt.where(Share.series_id == query.series)
    if query.from_ is not None:
        stmt = stmt.where(Share.scheduled_at >= query.from_)
    if query.to is not None:
        stmt = stmt.where(Share.scheduled_at < query.to)
    if query.state is not None or query.channel is not None:
        sub = select(ShareTarget.share_id)
        if query.state is not None:
            sub = sub.where(ShareTarget.state == query.state.value)
        if query.channel is not None:
            sub = sub.where(ShareTarget.channel_account_id == query.channel)
        stmt = stmt.where(Share.id.in_(sub))
    shares = list(await session.scalars(stmt.order_by(Share.id.desc()).limit(query.limit)))
    return await _outs(session, shares, with_events=False, settings=settings)
