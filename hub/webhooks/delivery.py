"""Sending due deliveries: claim, sign and send, record, retry later or give up.

A delivery is due when it is ``pending``, its ``next_attempt_at`` has passed and its endpoint
is enabled. A worker claims it with one conditional UPDATE that also moves
``next_attempt_at`` past the attempt's time limit, so no other worker sees it as due while
it is being sent (and a worker that dies mid-send leaves it due again after that lease):
two workers never send the same attempt.

Retry schedule (``webhooks.retry_delays_s``, the Standard Webhooks one by default): the first
attempt at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each delay counted
from the start of the failed attempt; after the last one the delivery is ``failed``. Any 2xx
is success; anything else (another status, a timeout, a refused connection or address)
is a failed attempt, recorded with its status or reason.

An endpoint is disabled, with the reason, when ``webhooks.disable_after_failed_deliveries``
deliveries in a row have failed for good (its ``consecutive_failures``), when it has been
failing without a single success for ``webhooks.disable_after_hours`` (since its
``failing_since``), or at once when it answers 410 Gone. Any 2xx resets both, so a short
outage under a burst of events never disables an endpoint. Its pending deliveries wait until
it is enabled again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import WebhookSettings
from hub.security import VaultError
from hub.storage.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.storage.types import utcnow
from hub.tasks.context import TaskContext
from hub.webhooks.transport import Outcome, post_signed

__all__ = ["Result", "ScanResult", "deliver_due", "deliver_one", "next_delay_s"]

log = structlog.get_logger("hub.webhooks")

Result = Literal["delivered", "retrying", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class ScanResult:
    due: int
    delivered: int
    retrying: int
    failed: int
    skipped: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: int
    endpoint_id: int
    merchant_id: int
    number: int
    event_id: str
    body: bytes
    url: str
    secret_encrypted: str


def next_delay_s(settings: WebhookSettings, failed_attempt: int) -> float | None:
    """Seconds before the attempt after ``failed_attempt`` (1-based); None: give up."""
    delays = settings.retry_delays_s
    return delays[failed_attempt - 1] if failed_attempt <= len(delays) else None


def _enabled_endpoints() -> Select[int]:
    return select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))


async def deliver_due(ctx: TaskContext, *, now: datetime | None = None) -> ScanResult:
    """Send a batch of due deliveries, ``webhooks.concurrency`` at a time."""
    cfg = ctx.settings.webhooks
    async with ctx.sessions() as session:
        ids = (
            await session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= (now or utcnow()),
                    WebhookDelivery.endpoint_id.in_(_enabled_endpoints()),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(cfg.batch_size)
            )
        ).all()
    gate = asyncio.Semaphore(cfg.concurrency)

    async def one(delivery_id: int) -> Result:
        async with gate:
            try:
                return await deliver_one(ctx, delivery_id, now=now)
            except Exception:
                log.exception("webhook_delivery_error", delivery_id=delivery_id)
                return "skipped"

    results = await asyncio.gather(*(one(i) for i in ids))
    return ScanResult(
        due=len(ids),
        delivered=results.count("delivered"),
        retrying=results.count("retrying"),
        failed=results.count("failed"),
        skipped=results.count("skipped"),
    )


async def deliver_one(ctx: TaskContext, delivery_id: int, *, now: datetime | None = None) -> Result:
    """One attempt of one delivery if it is due and this worker wins the claim."""
    at = now or utcnow()
    claimed = await _claim(ctx, delivery_id, at)
    if claimed is None:
        return "skipped"
    cfg = ctx.settings.webhooks
    try:
        secret = ctx.vault.decrypt(claimed.secret_encrypted)
    except VaultError:
        outcome = Outcome(None, "secret_unreadable: the endpoint's secret cannot be decrypted", 0)
    else:
        outcome = await post_signed(
            ctx.http,
            claimed.url,
            secret,
            claimed.event_id,
            claimed.body,
            timestamp=int(utcnow().timestamp()),
            timeout_s=cfg.timeout_s,
            allow_private=cfg.allow_private,
        )
    log.info(
        "webhook_attempt",
        merchant_id=claimed.merchant_id,
        endpoint_id=claimed.endpoint_id,
        delivery_id=claimed.delivery_id,
        event_id=claimed.event_id,
        attempt=claimed.number,
        status=outcome.status,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
    )
    try:
        async with ctx.sessions() as session:
            result = await _record(session, cfg, claimed, outcome, at)
            await session.commit()
    except IntegrityError:  # the endpoint was deleted while we were sending
        return "skipped"
    return result


async def _claim(ctx: TaskContext, delivery_id: int, at: datetime) -> _Claimed | None:
    lease = timedelta(seconds=ctx.settings.webhooks.timeout_s * 2 + 30)
    async with ctx.sessions() as session:
        won = await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= at,
                WebhookDelivery.endpoint_id.in_(_enabled_endpoints()),
            )
            .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=at + lease)
            .execution_options(synchronize_session=False)
        )
        if getattr(won, "rowcount", 0) != 1:
            await session.rollback()
            return None
        row = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret_encrypted)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id == delivery_id)
            )
        ).one()
        await session.commit()
    delivery: WebhookDelivery = row[0]
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _Claimed(
        delivery_id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        merchant_id=delivery.merchant_id,
        number=delivery.attempts,
        event_id=delivery.event_id,
        body=body.encode("utf-8"),
        url=row.url,
        secret_encrypted=row.secret_encrypted,
    )


async def _record(
    session: AsyncSession, cfg: WebhookSettings, claimed: _Claimed, outcome: Outcome, at: datetime
) -> Result:
    session.add(
        WebhookAttempt(
            delivery_id=claimed.delivery_id,
            merchant_id=claimed.merchant_id,
            number=claimed.number,
            at=at,
            status=outcome.status,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    await session.flush()
    mine = (WebhookDelivery.id == claimed.delivery_id, WebhookDelivery.attempts == claimed.number)
    endpoint = WebhookEndpoint.id == claimed.endpoint_id
    if outcome.ok:
        await session.execute(
            update(WebhookDelivery)
            .where(*mine)
            .values(
                state="delivered",
                delivered_at=at,
                next_attempt_at=None,
                last_status=outcome.status,
                last_error=None,
            )
        )
        await session.execute(
            update(WebhookEndpoint)
            .where(endpoint)
            .values(consecutive_failures=0, failing_since=None)
        )
        return "delivered"
    delay = next_delay_s(cfg, claimed.number)
    await session.execute(
        update(WebhookDelivery)
        .where(*mine)
        .values(
            state="pending" if delay is not None else "failed",
            next_attempt_at=at + timedelta(seconds=delay) if delay is not None else None,
            last_status=outcome.status,
            last_error=outcome.error,
        )
    )
    if delay is None:
        await session.execute(
            update(WebhookEndpoint)
            .where(endpoint)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
        )
    await session.execute(
        update(WebhookEndpoint)
        .where(endpoint, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=at)
    )
    await _maybe_disable(session, cfg, claimed.endpoint_id, outcome, at)
    return "retrying" if delay is not None else "failed"


async def _maybe_disable(
    session: AsyncSession, cfg: WebhookSettings, endpoint_id: int, outcome: Outcome, at: datetime
) -> None:
    row = await session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    if row is None or not row.enabled:
        return
    since = row.failing_since or at
    hours = (at - since).total_seconds() / 3600
    last = outcome.error or f"HTTP {outcome.status}"
    if outcome.gone:
        reason = "the receiver answered 410 Gone"
    elif row.consecutive_failures >= cfg.disable_after_failed_deliveries:
        reason = f"{row.consecutive_failures} deliveries in a row failed for good (last: {last})"
    elif hours >= cfg.disable_after_hours:
        reason = (
            f"failing for {hours:.1f} hours without a success since "
            f"{since:%Y-%m-%d %H:%M} UTC (last: {last})"
        )
    else:
        return
    row.enabled = False
    row.disabled_reason = reason[:1000]
    log.warning(
        "webhook_endpoint_disabled",
        merchant_id=row.merchant_id,
        endpoint_id=endpoint_id,
        reason=reason[:200],
    )
