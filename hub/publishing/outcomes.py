"""What a channel's answer does to a target: the outcome half of `hub.publishing.publisher`.

Every outcome is recorded, and the lease released, in one transaction guarded by the lease
owner (a worker whose lease was taken over records nothing but a post it knows exists):

- success → ``published`` with the remote id and URL;
- `RateLimited` → ``retrying`` at now + Retry-After, and the account's shared bucket blocked
  for as long, so every worker waits;
- `QuotaExhausted` (a quota used up until it resets, a temporary block) → ``deferred`` until
  then with the channel's reason, and so are the account's other waiting targets due earlier;
  its bucket is blocked for as long with that reason, so no call is made meanwhile. When
  the quota is the app's (`RateScope.APP`), the app's key is blocked too
  (`gate.app_block_key`), so every account posting through that app waits as well. The
  account stays active: publishing resumes by itself;
- `TransientError` → ``retrying`` with exponential backoff and jitter, ``failed`` after
  ``publishing.max_attempts``;
- `OutcomeUnknown` → resend with the same idempotency key when the channel honours one
  (``retry_safe``), else ``unknown`` for the merchant to confirm;
- `AuthExpired` → the account ``needs_reauth``, this and its other waiting targets paused;
- `Misconfigured` → the account ``disabled``, this target ``failed``, the others paused;
- `PermanentError` → ``failed`` with the channel's message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import connectors
from connectors import QuotaExhausted, RateScope, RenderedPost
from hub.channels.accounts import AccountConfig
from hub.publishing import gate
from hub.publishing.evergreen import settle_share
from hub.publishing.ratelimit import RateLimiter, RedisLimiter, local_limiter
from hub.publishing.states import PAUSED, TargetState, hold_account, move, pause_account
from hub.storage.models import ChannelAccount, ShareTarget
from hub.storage.types import utcnow
from hub.tasks.context import TaskContext

__all__ = ["Outcome", "backoff_s", "finish", "limiter", "send", "settle"]

log = structlog.get_logger("hub.publishing")
S = TargetState


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run did to the target (for logs, tests and the task result)."""

    target_id: int
    state: str
    reason: str | None = None


def limiter(ctx: TaskContext) -> RateLimiter:
    return RedisLimiter(ctx.redis) if ctx.redis is not None else local_limiter(ctx.sessions)


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with jitter: a random time in [cap/2, cap], cap = base·2^(n-1)."""
    cap = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return random.uniform(cap / 2, cap)


async def settle(session: AsyncSession, target_id: int, ctx: TaskContext) -> None:
    share_id = await session.scalar(select(ShareTarget.share_id).where(ShareTarget.id == target_id))
    if share_id is not None:
        await settle_share(session, share_id, ctx.settings)


async def finish(ctx: TaskContext, target_id: int, to: S, reason: str | None, **kw: Any) -> Outcome:
    async with ctx.sessions() as session:
        await move(session, target_id, to, reason=reason, **kw)
        if to in (S.FAILED, S.PUBLISHED):
            await settle(session, target_id, ctx)
        await session.commit()
    return Outcome(target_id, to.value, reason)


async def send(
    ctx: TaskContext,
    cfg: AccountConfig,
    tid: int,
    key: str,
    post: RenderedPost,
    owner: str,
    attempt: int,
) -> Outcome:
    """Call the channel with the target's idempotency key; record what it said, releasing
    the lease in the same transaction."""
    pub = ctx.settings.publishing
    log.info("publishing", target_id=tid, channel_account_id=cfg.account_id, attempt=attempt)
    lease: dict[str, Any] = {"allowed_from": {S.PUBLISHING}, "lease_owner": owner}
    try:
        result = await cfg.connector.publish(post, cfg.config, ctx.http, idempotency_key=key)
    except QuotaExhausted as exc:
        return await _quota_exhausted(ctx, cfg, tid, exc, lease)
    except connectors.RateLimited as exc:
        await limiter(ctx).block(_bucket_key(ctx, cfg), exc.retry_after_s)
        due = utcnow() + timedelta(seconds=max(exc.retry_after_s, 1.0))
        return await finish(
            ctx,
            tid,
            S.RETRYING,
            f"rate_limited: retry after {exc.retry_after_s:g}s",
            due_at=due,
            enqueued_at=None,
            **lease,
        )
    except connectors.OutcomeUnknown as exc:
        if exc.retry_safe and attempt < pub.max_attempts:
            due = utcnow() + timedelta(
                seconds=backoff_s(attempt, pub.backoff_base_s, pub.backoff_max_s)
            )
            return await finish(
                ctx,
                tid,
                S.RETRYING,
                f"outcome unknown, resending with the same key: {exc.message}",
                due_at=due,
                enqueued_at=None,
                **lease,
            )
        return await finish(
            ctx,
            tid,
            S.UNKNOWN,
            f"outcome unknown: {exc.message}; check the channel and confirm",
            **lease,
        )
    except connectors.TransientError as exc:
        if attempt >= pub.max_attempts:
            return await finish(
                ctx, tid, S.FAILED, f"gave up after {attempt} attempts: {exc.message}", **lease
            )
        due = utcnow() + timedelta(
            seconds=backoff_s(attempt, pub.backoff_base_s, pub.backoff_max_s)
        )
        return await finish(
            ctx, tid, S.RETRYING, f"transient: {exc.message}", due_at=due, enqueued_at=None, **lease
        )
    except connectors.AuthExpired as exc:
        return await _auth_expired(ctx, cfg, tid, exc.message, lease)
    except connectors.Misconfigured as exc:
        async with ctx.sessions() as session:
            await session.execute(
                update(ChannelAccount)
                .where(ChannelAccount.id == cfg.account_id)
                .values(status="disabled", status_reason=f"{exc.code}: {exc.message}")
            )
            await move(session, tid, S.FAILED, reason=f"{exc.code}: {exc.message}", **lease)
            await pause_account(session, cfg.account_id, f"account misconfigured ({exc.code})")
            await session.commit()
        return Outcome(tid, S.FAILED.value, exc.code)
    except connectors.PermanentError as exc:
        return await finish(ctx, tid, S.FAILED, f"{exc.code}: {exc.message}", **lease)
    except connectors.ConnectorError as exc:  # a kind added later: treat as transient
        due = utcnow() + timedelta(
            seconds=backoff_s(attempt, pub.backoff_base_s, pub.backoff_max_s)
        )
        return await finish(
            ctx, tid, S.RETRYING, f"error: {exc.message}", due_at=due, enqueued_at=None, **lease
        )
    return await _published(ctx, tid, owner, result.remote_id, result.remote_url)


def _bucket_key(ctx: TaskContext, cfg: AccountConfig) -> str:
    rules = gate.rules_for(ctx.settings, cfg.kind, cfg.policy)
    bucket = gate.bucket(cfg.connector, cfg.account_id, rules)
    return bucket.key if bucket else f"acct:{cfg.account_id}"


async def _quota_exhausted(
    ctx: TaskContext, cfg: AccountConfig, tid: int, exc: QuotaExhausted, lease: dict[str, Any]
) -> Outcome:
    why = f"quota: {exc.message}"
    now = utcnow()
    until = now + timedelta(seconds=max(exc.retry_after_s, 1.0))
    key = _bucket_key(ctx, cfg)
    if key == f"acct:{cfg.account_id}":  # never a bucket the channel's other accounts share
        await limiter(ctx).block(key, exc.retry_after_s, why)
    app_key = gate.app_block_key(cfg.connector, cfg.config) if exc.scope is RateScope.APP else None
    if app_key is not None:  # the app's quota: its other accounts wait too
        await limiter(ctx).block(app_key, exc.retry_after_s, why)
    details = {"resumes_at": until.isoformat()}
    async with ctx.sessions() as session:
        await move(
            session,
            tid,
            S.DEFERRED,
            reason=why,
            details=details,
            now=now,
            due_at=until,
            enqueued_at=None,
            **lease,
        )
        held = await hold_account(session, cfg.account_id, why, until, now=now)
        await session.commit()
    log.warning(
        "quota_exhausted",
        channel_account_id=cfg.account_id,
        target_id=tid,
        resumes_at=until.isoformat(),
        held=held,
        app_wide=app_key is not None,
    )
    return Outcome(tid, S.DEFERRED.value, why)


async def _published(
    ctx: TaskContext, tid: int, owner: str, remote_id: str, remote_url: str | None
) -> Outcome:
    now = utcnow()
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_url": remote_url,
        "published_at": now,
    }
    async with ctx.sessions() as session:
        left = await move(
            session,
            tid,
            S.PUBLISHED,
            reason=None,
            allowed_from={S.PUBLISHING},
            lease_owner=owner,
            now=now,
            details={"remote_id": remote_id},
            **values,
        )
        if left is None:  # our lease was taken over; the post exists, so record it anyway
            log.warning("published_after_lease_lost", target_id=tid)
            left = await move(
                session,
                tid,
                S.PUBLISHED,
                reason="recorded after lease loss",
                allowed_from={S.PUBLISHING, S.UNKNOWN},
                now=now,
                **values,
            )
        await settle(session, tid, ctx)
        await session.commit()
    log.info("published", target_id=tid, remote_id=remote_id)
    return Outcome(tid, S.PUBLISHED.value)


async def _auth_expired(
    ctx: TaskContext, cfg: AccountConfig, tid: int, message: str, lease: dict[str, Any]
) -> Outcome:
    why = f"{PAUSED}: credentials expired or revoked ({message}); re-authenticate the account"
    async with ctx.sessions() as session:
        await session.execute(
            update(ChannelAccount)
            .where(ChannelAccount.id == cfg.account_id)
            .values(status="needs_reauth", status_reason=message or "credentials refused")
        )
        await move(session, tid, S.DEFERRED, reason=why, enqueued_at=None, **lease)
        await pause_account(session, cfg.account_id, "credentials expired")
        await session.commit()
    log.warning("credentials_expired", channel_account_id=cfg.account_id, target_id=tid)
    return Outcome(tid, S.DEFERRED.value, why)
