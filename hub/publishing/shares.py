"""Shares: a product card to some channel accounts, fanned out into one target per account.

Creating a share checks every id against the merchant (another merchant's product, campaign
or channel is "not found"), resolves ``at`` (an ISO 8601 time with its zone, ``now`` or
``best``) into each target's due time, and gives every target its own idempotency key and,
where the links package is installed, its own tracked link. Reads return each target with its
state, reason, link, remote URL and every transition.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import connectors
from hub.config import Settings
from hub.publishing import links
from hub.publishing.gate import lock_account
from hub.publishing.reads import ShareOut, get_share
from hub.publishing.recurring import occurrences
from hub.publishing.states import PAUSED, TargetState, _record, move
from hub.publishing.when import resolve_at
from hub.storage.models import (
    Campaign,
    ChannelAccount,
    Merchant,
    Product,
    Share,
    ShareTarget,
)
from hub.storage.types import RowId, utcnow

__all__ = [
    "InvalidShare",
    "NotFound",
    "ShareIn",
    "create_share",
]


class NotFound(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class InvalidShare(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("expected a time with a zone offset, e.g. 2030-01-01T09:00:00+01:00")
    return value


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: RowId
    # Unique (uniqueItems in the schema); a repeated id is refused with 422, not merged.
    channel_ids: list[RowId] = Field(
        min_length=1, max_length=100, json_schema_extra={"uniqueItems": True}
    )
    at: str = Field(default="now", min_length=3, max_length=64)
    campaign_id: RowId | None = None
    text: dict[str, str] = Field(default_factory=dict, max_length=100)
    expires_at: datetime | None = None
    # A draft waits for a key with the ``approve`` scope (POST /shares/{id}/approve).
    draft: bool = False
    # Recurring: an RFC 5545 RRULE with COUNT or UNTIL ("FREQ=WEEKLY;BYDAY=MO;COUNT=4"),
    # in the merchant's local time from the first occurrence (``at``).
    rrule: str | None = Field(default=None, min_length=5, max_length=500)
    # Evergreen: once published, share the product again this many days later, until cancelled.
    recycle_days: float | None = Field(default=None, ge=1, le=3650)
    source_event_id: str | None = Field(default=None, exclude=True, max_length=255)

    _expiry_aware = field_validator("expires_at")(_aware)

    @field_validator("channel_ids")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("channel ids must be unique")
        return value


async def _owned(session: AsyncSession, model: Any, merchant_id: int, row_id: int) -> Any:
    return await session.scalar(
        select(model).where(model.id == row_id, model.merchant_id == merchant_id)
    )


def _check_texts(data: ShareIn, accounts: Sequence[ChannelAccount]) -> None:
    by_key: dict[str, list[ChannelAccount]] = {}
    for account in accounts:
        by_key.setdefault(account.kind, []).append(account)
        by_key.setdefault(str(account.id), []).append(account)
    for key, template in data.text.items():
        if key not in by_key:
            raise InvalidShare(f"text.{key}", "not the kind or id of one of the channels")
        for account in by_key[key]:
            try:
                connectors.get(account.kind).check_template(template)
            except ValueError as exc:
                raise InvalidShare(f"text.{key}", str(exc)) from None


async def create_share(
    session: AsyncSession, merchant_id: int, data: ShareIn, *, settings: Settings
) -> ShareOut:
    """Validate, fan out and flush a share; the caller commits and then enqueues due targets."""
    merchant = await session.get(Merchant, merchant_id)
    assert merchant is not None
    product = await _owned(session, Product, merchant_id, data.product_id)
    if product is None:
        raise NotFound("product")
    if data.campaign_id is not None and (
        await _owned(session, Campaign, merchant_id, data.campaign_id) is None
    ):
        raise NotFound("campaign")
    accounts: list[ChannelAccount] = []
    for channel_id in data.channel_ids:
        account = await _owned(session, ChannelAccount, merchant_id, channel_id)
        if account is None:
            raise NotFound(f"channel {channel_id}")
        accounts.append(account)
    for account in sorted(accounts, key=lambda a: a.id):
        # Serialise with a worker pausing the account, so no new target slips past a pause,
        # then read its status again under the lock.
        await lock_account(session, account.id)
        await session.refresh(account, ["status"])
    _check_texts(data, accounts)
    now = utcnow()
    due = {}
    for account in accounts:
        try:
            due[account.id] = await resolve_at(session, data.at, account, merchant.timezone, now)
        except ValueError as exc:
            raise InvalidShare("at", str(exc)) from None
    scheduled_at = min(due.values())
    if data.expires_at is not None and data.expires_at <= scheduled_at:
        raise InvalidShare("expires_at", "must be after the time the share is due")
    offsets = [timedelta(0)]
    if data.rrule is not None:
        try:
            times = occurrences(data.rrule, scheduled_at, merchant.timezone)
        except ValueError as exc:
            raise InvalidShare("rrule", str(exc)) from None
        offsets = [t - times[0] for t in times]
    first: Share | None = None
    for offset in offsets:
        share = await _insert(
            session,
            merchant_id,
            data,
            accounts,
            {a: d + offset for a, d in due.items()},
            now=now,
            offset=offset,
            settings=settings,
            series_id=first.id if first is not None else None,
        )
        if first is None:
            first = share
            if data.rrule is not None or data.recycle_days is not None:
                share.series_id = share.id
    assert first is not None
    await session.flush()
    out = await get_share(session, merchant_id, first.id, settings=settings)
    assert out is not None
    return out


async def _insert(
    session: AsyncSession,
    merchant_id: int,
    data: ShareIn,
    accounts: Sequence[ChannelAccount],
    due: dict[int, datetime],
    *,
    now: datetime,
    offset: timedelta,
    settings: Settings,
    series_id: int | None,
) -> Share:
    """One share and its targets (each with its link and its first event)."""
    share = Share(
        merchant_id=merchant_id,
        product_id=data.product_id,
        campaign_id=data.campaign_id,
        scheduled_at=min(due.values()),
        when=data.at if not offset else min(due.values()).isoformat(),
        expires_at=data.expires_at + offset if data.expires_at is not None else None,
        text_overrides=dict(data.text),
        state="draft" if data.draft else "scheduled",
        source_event_id=data.source_event_id if not offset else None,
        rrule=data.rrule,
        series_id=series_id,
        recycle_days=data.recycle_days,
    )
    session.add(share)
    await session.flush()
    for account in accounts:
        target = ShareTarget(
            share_id=share.id,
            merchant_id=merchant_id,
            channel_account_id=account.id,
            state=TargetState.SCHEDULED.value,
            due_at=due[account.id],
            idempotency_key=f"st_{uuid.uuid4().hex}",
            # Due now: the caller enqueues it after commit, so the scan leaves it alone.
            enqueued_at=now if due[account.id] <= now and not data.draft else None,
        )
        session.add(target)
        await session.flush()
        await links.make_link(
            session,
            merchant_id,
            product_id=data.product_id,
            account=account,
            campaign_id=data.campaign_id,
            target_id=target.id,
            settings=settings,
        )
        await _record(session, target.id, None, TargetState.SCHEDULED, "created", {}, now)
        if account.status != "active":  # held until the account works again
            await session.flush()
            await move(
                session,
                target.id,
                TargetState.DEFERRED,
                reason=f"{PAUSED}: account {account.status}",
                now=now,
            )
    return share
