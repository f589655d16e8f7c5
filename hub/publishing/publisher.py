"""Publish one share target: exactly one post per target, even when a worker dies mid-call.

The steps, each in its own short transaction so that no lock is held across a remote call:

1. load the target, its share, account, product and merchant; skip it unless it is waiting
   and due (or ``publishing`` with an expired lease, see below); fail it when its share
   expired;
2. render the post with the account's connector (pure);
3. take a token from the account's shared bucket (Redis in production), sleeping at most
   ``publishing.max_inline_wait_s``, else defer the target to when the bucket has one; an
   account whose app is blocked (the app's quota spent through any of its accounts) is
   deferred until the block ends without taking a token;
4. lock the account row, ask the policy gate (deferring the target to the computed next
   allowed time, or failing it when that is past the share's expiry), and claim the lease
   with a conditional UPDATE (only one worker wins); commit;
5. call the channel with the target's idempotency key;
6. record the outcome and release the lease in one transaction: ``published`` with the
   remote id and URL; ``retrying`` (Retry-After or exponential backoff with jitter, up to
   ``publishing.max_attempts``); ``failed`` with the channel's message; ``deferred`` and the
   account marked ``needs_reauth`` (its other waiting targets paused) on expired credentials;
   ``unknown`` when the post may exist and resending could post twice.

The one unavoidable window: the channel accepted the post and the worker died (SIGKILL, power
loss) before step 6 committed. Nothing on our side can know whether the request got through.
The target stays ``publishing`` with a lease; Celery redelivers the task (late
acknowledgement) and the due scan finds the lease expired. Then:

- if the channel de-duplicates by a client key (``limits.has_idempotency_key``: the signed
  webhook's ``webhook-id``), the target is claimed again and sent with the *same* key: the
  channel answers with the post it already has, and the target ends ``published`` once;
- otherwise the target goes to ``unknown``: the merchant looks at the channel and confirms
  (``POST /api/v1/shares/{id}/targets/{tid}/confirm``). A second post is never risked.

A timeout after the request was sent (`OutcomeUnknown`) is handled the same way. What each
answer of the channel does to the target is in `hub.publishing.outcomes`.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from connectors import Card, MediaPolicy
from hub.channels.accounts import AccountConfig, account_config
from hub.channels.tokens import RedisTokenStore
from hub.money import from_minor
from hub.publishing import gate, links
from hub.publishing.outcomes import Outcome, finish, limiter, send
from hub.publishing.ratelimit import Grant
from hub.publishing.states import PAUSED, WAITING, TargetState, claim, move
from hub.storage.models import ChannelAccount, Merchant, Product, Share, ShareTarget
from hub.storage.types import utcnow
from hub.tasks.context import TaskContext

__all__ = ["Outcome", "publish_target"]

S = TargetState
_MAX_JITTER_S = 60.0


@dataclass(frozen=True, slots=True)
class _Loaded:
    target: ShareTarget
    share: Share
    account: ChannelAccount
    product: Product
    merchant: Merchant


def _card(product: Product) -> Card:
    price = None
    if product.price_minor is not None and product.currency:
        price = from_minor(product.price_minor, product.currency)
    return Card(
        title=product.title,
        description=product.description or "",
        product_url=product.url,
        price=price,
        currency=product.currency if price is not None else None,
        image_url=product.image_url,
        tags=tuple(product.tags or ()),
    )


async def _load(session: AsyncSession, target_id: int) -> _Loaded | None:
    row = (
        await session.execute(
            select(ShareTarget, Share, ChannelAccount, Product, Merchant)
            .join(Share, Share.id == ShareTarget.share_id)
            .join(ChannelAccount, ChannelAccount.id == ShareTarget.channel_account_id)
            .join(Product, Product.id == Share.product_id)
            .join(Merchant, Merchant.id == ShareTarget.merchant_id)
            .where(ShareTarget.id == target_id)
        )
    ).one_or_none()
    return _Loaded(*row) if row is not None else None


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def publish_target(ctx: TaskContext, target_id: int) -> Outcome:
    """Run the target one step further; safe to call any number of times, concurrently."""
    now = utcnow()
    async with ctx.sessions() as session:
        loaded = await _load(session, target_id)
        urls = await links.link_urls(session, [target_id], links.base_url(ctx.settings))
    if loaded is None:
        return Outcome(target_id, "missing")
    target, share, account = loaded.target, loaded.share, loaded.account
    state = S(target.state)
    stale = False
    if state is S.PUBLISHING:
        if target.lease_until is not None and target.lease_until > now:
            return Outcome(target_id, state.value, "leased by another worker")
        stale = True
    elif state not in WAITING or share.state != "scheduled":
        return Outcome(target_id, state.value, "nothing to do")
    elif target.due_at > now + timedelta(seconds=1):
        async with ctx.sessions() as session:  # moved meanwhile: let the scan send it again
            await session.execute(
                update(ShareTarget)
                .where(ShareTarget.id == target_id, ShareTarget.due_at > now)
                .values(enqueued_at=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return Outcome(target_id, state.value, "not due")
    if account.status != "active":
        if not stale and not (target.reason or "").startswith(PAUSED):
            return await finish(
                ctx,
                target_id,
                S.DEFERRED,
                f"{PAUSED}: account {account.status}",
                allowed_from=WAITING,
                enqueued_at=None,
            )
        if not stale:
            return Outcome(target_id, state.value, "account not active")
    media = MediaPolicy(allow_private=ctx.settings.publishing.allow_private_images)
    tokens = RedisTokenStore(ctx.redis) if ctx.redis is not None else None
    cfg = account_config(ctx.vault, account, media=media, tokens=tokens)
    if stale and not cfg.connector.limits.has_idempotency_key:
        return await finish(
            ctx,
            target_id,
            S.UNKNOWN,
            "outcome unknown: the worker stopped mid-publish and this channel has no "
            "idempotency key; check the channel and confirm",
            allowed_from={S.PUBLISHING},
        )
    if share.expires_at is not None and now >= share.expires_at and not stale:
        return await finish(
            ctx,
            target_id,
            S.FAILED,
            "expired: the share's expiry passed before publishing",
            allowed_from=WAITING,
        )
    overrides = share.text_overrides or {}
    template = overrides.get(str(account.id)) or overrides.get(account.kind)
    try:
        post = cfg.connector.render_for(
            cfg.config, _card(loaded.product), urls.get(target_id) or loaded.product.url, template
        )
    except ValueError as exc:
        return await finish(ctx, target_id, S.FAILED, f"render: {exc}")
    rules = gate.rules_for(ctx.settings, account.kind, cfg.policy)
    waited = await _take_token(ctx, cfg, rules, target_id, state)
    if isinstance(waited, Outcome):
        return waited
    owner = _owner()
    async with ctx.sessions() as session:
        await gate.lock_account(session, account.id)
        now = utcnow()
        if not stale:
            decision = await gate.check(
                session,
                account_id=account.id,
                target_id=target_id,
                product_id=share.product_id,
                text=post.text,
                rules=rules,
                timezone=loaded.merchant.timezone,
                now=now,
            )
            if not decision.allowed:
                outcome = await _defer(
                    session,
                    loaded,
                    decision.not_before,
                    decision.reason,
                    {"rule": decision.rule},
                    now,
                )
                await session.commit()
                return outcome
        if not await claim(
            session,
            target_id,
            owner,
            ctx.settings.publishing.lease_s,
            stale=stale,
            now=now,
            details={"rate_wait_s": round(waited, 3)} if waited else None,
            text=post.text,
        ):
            await session.rollback()
            return Outcome(target_id, "lost", "another worker has it")
        await session.commit()
    return await send(ctx, cfg, target_id, target.idempotency_key, post, owner, target.attempts + 1)


async def _take_token(
    ctx: TaskContext, cfg: AccountConfig, rules: Any, target_id: int, state: S
) -> Outcome | float:
    app_key = gate.app_block_key(cfg.connector, cfg.config)
    if app_key is not None and (held := await limiter(ctx).blocked(app_key)) is not None:
        return await _wait(ctx, target_id, state, held)
    bucket = gate.bucket(cfg.connector, cfg.account_id, rules)
    if bucket is None:
        return 0.0
    grant = await limiter(ctx).acquire(bucket, ctx.settings.publishing.max_inline_wait_s)
    if grant.reserved:
        if grant.wait_s > 0:
            await asyncio.sleep(grant.wait_s)
        return grant.wait_s
    return await _wait(ctx, target_id, state, grant)


async def _wait(ctx: TaskContext, target_id: int, state: S, grant: Grant) -> Outcome:
    """Defer the target until `grant`'s wait is over (the bucket's next token, or a block's
    end)."""
    # Jitter spreads the waiting workers: up to the wait again, but at most a minute (a block
    # until a monthly quota resets must not stretch to twice as long).
    jitter_s = random.uniform(0.0, min(grant.wait_s, _MAX_JITTER_S))
    due = utcnow() + timedelta(seconds=grant.wait_s + jitter_s)
    why = grant.reason or "rate_limit: waiting for a token"
    async with ctx.sessions() as session:
        if state is S.DEFERRED:  # already waiting on the bucket: only the time moves
            await session.execute(
                update(ShareTarget)
                .where(ShareTarget.id == target_id, ShareTarget.state == S.DEFERRED.value)
                .values(due_at=due, enqueued_at=None, reason=why)
                .execution_options(synchronize_session=False)
            )
        else:
            await move(
                session,
                target_id,
                S.DEFERRED,
                reason=why,
                allowed_from=WAITING,
                due_at=due,
                enqueued_at=None,
                details={"wait_s": round(grant.wait_s, 3)},
            )
        await session.commit()
    return Outcome(target_id, S.DEFERRED.value, why)


async def _defer(
    session: AsyncSession,
    loaded: _Loaded,
    until: datetime,
    reason: str | None,
    details: dict[str, Any],
    now: datetime,
) -> Outcome:
    tid, expires = loaded.target.id, loaded.share.expires_at
    if expires is not None and until >= expires:
        why = f"expired: {reason}; the share expires at {expires.isoformat()}"
        await move(
            session, tid, S.FAILED, reason=why, allowed_from=WAITING, details=details, now=now
        )
        return Outcome(tid, S.FAILED.value, why)
    await move(
        session,
        tid,
        S.DEFERRED,
        reason=reason,
        allowed_from=WAITING,
        now=now,
        due_at=until,
        enqueued_at=None,
        details={**details, "next_at": until.isoformat()},
    )
    return Outcome(tid, S.DEFERRED.value, reason)
