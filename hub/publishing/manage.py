"""Changing a share after it was made: reschedule, cancel or retract, confirm an unknown post.

- Reschedule moves every still-waiting target (and failed ones: a new chance) to the new time.
- Cancel stops targets that have not been published; retract deletes the remote posts of
  published ones through their connectors (a post already gone counts as deleted). A target
  being published right now cannot be stopped: the answer says so and nothing changes.
- Confirm settles a target in ``unknown``: the merchant looked at the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import connectors
from hub.channels.accounts import account_config
from hub.publishing.states import WAITING, TargetState, move
from hub.publishing.when import resolve_at
from hub.security import Vault
from hub.storage.models import ChannelAccount, Merchant, Share, ShareTarget
from hub.storage.types import utcnow

__all__ = [
    "Busy",
    "approve_share",
    "ConfirmIn",
    "RescheduleIn",
    "Settled",
    "cancel_share",
    "confirm_target",
    "reschedule_share",
    "series_from",
]

log = structlog.get_logger("hub.publishing")
S = TargetState


class Busy(RuntimeError):
    """A target is being published this moment; try again in a little while."""


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: str = Field(min_length=3, max_length=64)
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a time with a zone offset")
        return value


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    published: bool
    remote_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)


@dataclass(frozen=True, slots=True)
class Settled:
    target_id: int
    state: str
    error: str | None = None


async def _share(session: AsyncSession, merchant_id: int, share_id: int) -> Share | None:
    return await session.scalar(
        select(Share).where(Share.id == share_id, Share.merchant_id == merchant_id)
    )


async def _targets(session: AsyncSession, share_id: int) -> list[ShareTarget]:
    return list(
        await session.scalars(
            select(ShareTarget).where(ShareTarget.share_id == share_id).order_by(ShareTarget.id)
        )
    )


async def reschedule_share(
    session: AsyncSession, merchant_id: int, share_id: int, data: RescheduleIn
) -> list[int] | None:
    """Move waiting targets to the new time; returns the ids moved (None: no such share)."""
    share = await _share(session, merchant_id, share_id)
    if share is None:
        return None
    merchant = await session.get(Merchant, merchant_id)
    assert merchant is not None
    now = utcnow()
    moved: list[int] = []
    for target in await _targets(session, share_id):
        if S(target.state) not in WAITING | {S.FAILED}:
            continue
        account = await session.get(ChannelAccount, target.channel_account_id)
        assert account is not None
        due = await resolve_at(session, data.at, account, merchant.timezone, now)
        if await move(
            session,
            target.id,
            S.SCHEDULED,
            reason="rescheduled",
            allowed_from=WAITING | {S.FAILED},
            now=now,
            due_at=due,
            enqueued_at=None,
            attempts=0,
            details={"at": data.at},
        ):
            moved.append(target.id)
    share.when = data.at
    if moved:
        share.scheduled_at = min(
            t.due_at for t in await _targets(session, share_id) if t.id in moved
        )
    if data.expires_at is not None:
        share.expires_at = data.expires_at
    if share.state == "done" and moved:
        share.state = "scheduled"
    await session.commit()
    return moved


async def cancel_share(
    session: AsyncSession,
    vault: Vault,
    http: aiohttp.ClientSession,
    merchant_id: int,
    share_id: int,
) -> list[Settled] | None:
    """Cancel what has not been published, retract what has. Raises `Busy` (nothing changed)
    while a target is being published."""
    share = await _share(session, merchant_id, share_id)
    if share is None:
        return None
    targets = await _targets(session, share_id)
    now = utcnow()
    if any(
        t.state == S.PUBLISHING.value and t.lease_until and t.lease_until > now for t in targets
    ):
        raise Busy("a target is being published right now; try again in a minute")
    share.state = "cancelled"
    await session.commit()  # the scan and the workers stop taking its targets from here
    out: list[Settled] = []
    for target in targets:
        state = S(target.state)
        if state in WAITING | {S.UNKNOWN, S.FAILED, S.PUBLISHING}:
            if state is S.PUBLISHING:  # an expired lease: the worker died; nothing to stop
                await move(
                    session,
                    target.id,
                    S.UNKNOWN,
                    reason="cancelled while a worker was lost mid-publish; check the channel",
                    allowed_from={state},
                )
            await move(
                session,
                target.id,
                S.CANCELLED,
                reason="cancelled by the merchant",
                allowed_from=WAITING | {S.UNKNOWN, S.FAILED},
            )
            out.append(Settled(target.id, S.CANCELLED.value))
        elif state is S.PUBLISHED:
            out.append(await _retract(session, vault, http, target))
        else:
            out.append(Settled(target.id, state.value))
        await session.commit()
    log.info("share_cancelled", share_id=share_id)
    return out


async def _retract(
    session: AsyncSession, vault: Vault, http: aiohttp.ClientSession, target: ShareTarget
) -> Settled:
    account = await session.get(ChannelAccount, target.channel_account_id)
    assert account is not None
    cfg = account_config(vault, account)
    try:
        if target.remote_id:
            await cfg.connector.delete(target.remote_id, cfg.config, http)
    except connectors.ConnectorError as exc:
        log.warning("retract_failed", target_id=target.id, error=type(exc).__name__)
        await session.execute(
            update(ShareTarget)
            .where(ShareTarget.id == target.id)
            .values(reason=f"retract failed: {exc.message}")
            .execution_options(synchronize_session=False)
        )
        return Settled(target.id, S.PUBLISHED.value, exc.message or type(exc).__name__)
    await move(
        session,
        target.id,
        S.RETRACTED,
        reason="retracted by the merchant",
        allowed_from={S.PUBLISHED},
        details={"remote_id": target.remote_id},
    )
    return Settled(target.id, S.RETRACTED.value)


async def confirm_target(
    session: AsyncSession, merchant_id: int, share_id: int, target_id: int, data: ConfirmIn
) -> str | None:
    """Settle an ``unknown`` target; returns its new state (None: no such target), raises
    ValueError when the target is not waiting for a confirmation."""
    target = await session.scalar(
        select(ShareTarget).where(
            ShareTarget.id == target_id,
            ShareTarget.share_id == share_id,
            ShareTarget.merchant_id == merchant_id,
        )
    )
    if target is None:
        return None
    if target.state != S.UNKNOWN.value:
        raise ValueError(f"the target is {target.state}, not unknown")
    values: dict[str, Any] = {}
    if data.published:
        to, reason = S.PUBLISHED, "confirmed published by the merchant"
        values = {"remote_url": data.remote_url, "published_at": utcnow()}
    else:
        to, reason = S.FAILED, "confirmed not published by the merchant"
    if await move(session, target_id, to, reason=reason, allowed_from={S.UNKNOWN}, **values):
        await session.commit()
        return to.value
    raise ValueError("the target changed meanwhile; read it again")


async def approve_share(session: AsyncSession, merchant_id: int, share_id: int) -> list[int] | None:
    """Release a draft for publishing; returns its targets due now (None: no such share).
    Raises ValueError when the share is not a draft."""
    share = await _share(session, merchant_id, share_id)
    if share is None:
        return None
    if share.state != "draft":
        raise ValueError(f"the share is {share.state}, not a draft")
    share.state = "scheduled"
    now = utcnow()
    due = [
        t.id for t in await _targets(session, share_id) if t.state in WAITING and t.due_at <= now
    ]
    if due:
        await session.execute(
            update(ShareTarget)
            .where(ShareTarget.id.in_(due))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )
    await session.commit()
    log.info("share_approved", share_id=share_id)
    return due


async def series_from(session: AsyncSession, merchant_id: int, share_id: int) -> list[int]:
    """`share_id` and the later shares of its series, oldest first (empty: no such share)."""
    share = await _share(session, merchant_id, share_id)
    if share is None:
        return []
    if share.series_id is None:
        return [share.id]
    rows = await session.scalars(
        select(Share.id)
        .where(
            Share.merchant_id == merchant_id,
            Share.series_id == share.series_id,
            Share.scheduled_at >= share.scheduled_at,
            Share.state.in_(["draft", "scheduled", "done"]),
        )
        .order_by(Share.scheduled_at, Share.id)
    )
    return list(rows)
