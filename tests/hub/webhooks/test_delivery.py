"""Sending deliveries to a real receiver: signatures, retries, giving up, disabling, claims."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hub.storage.db import create_engine, session_factory
from hub.storage.models import WebhookDelivery, WebhookEndpoint
from hub.storage.types import utcnow
from hub.tasks.context import TaskContext
from hub.tasks.registry import get
from hub.webhooks import emit
from hub.webhooks.deliveries import get_delivery, redeliver
from hub.webhooks.delivery import deliver_due
from hub.webhooks.endpoints import EndpointPatch, update_endpoint
from tests.hub.webhooks.conftest import Endpoint, Receiver, new_endpoint, with_settings

PUBLISHED = {
    "share_id": 1,
    "share_target_id": 2,
    "channel_account_id": 3,
    "channel_kind": "telegram",
    "remote_id": "42",
    "remote_url": "https://t.me/shop/42",
    "published_at": "2026-11-25T12:00:00Z",
}


async def emit_one(ctx: TaskContext, ep: Endpoint, **kw: object) -> str:
    async with ctx.sessions() as session:
        event_id = await emit(session, ep.merchant_id, "share.published", PUBLISHED, **kw)  # type: ignore[arg-type]
        await session.commit()
    return event_id


async def delivery_of(ctx: TaskContext, ep: Endpoint) -> WebhookDelivery:
    async with ctx.sessions() as session:
        return (
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == ep.endpoint_id)
            )
        ).one()


async def endpoint_row(ctx: TaskContext, ep: Endpoint) -> WebhookEndpoint:
    async with ctx.sessions() as session:
        row = await session.get(WebhookEndpoint, ep.endpoint_id)
        assert row is not None
        return row


async def test_a_delivery_is_signed_the_standard_webhooks_way(
    ctx: TaskContext, receiver: Receiver
) -> None:
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    event_id = await emit_one(ctx, ep)
    result = await deliver_due(ctx)
    assert (result.due, result.delivered) == (1, 1)
    (seen,) = receiver.seen
    body = Webhook(ep.secret).verify(seen.body, seen.headers)
    assert body["type"] == "share.published"
    assert body["data"]["share_target_id"] == 2
    assert body["data"]["published_at"] == "2026-11-25T12:00:00Z"
    assert body["timestamp"].endswith("Z")
    assert seen.headers["webhook-id"] == event_id
    assert seen.headers["Content-Type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(ep.secret).verify(seen.body.replace(b"42", b"43"), seen.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(seen.body, seen.headers)
    row = await delivery_of(ctx, ep)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 200)
    assert (await deliver_due(ctx)).due == 0
    assert len(receiver.seen) == 1


async def test_retries_follow_the_schedule_with_the_same_event_id(
    ctx: TaskContext, receiver: Receiver
) -> None:
    receiver.fail_first, receiver.fail_status = 3, 503
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    event_id = await emit_one(ctx, ep)
    at = utcnow()
    for delay_s in (5, 300, 1800):
        result = await deliver_due(ctx, now=at)
        assert (result.due, result.retrying) == (1, 1)
        row = await delivery_of(ctx, ep)
        assert row.state == "pending" and row.last_status == 503
        assert row.next_attempt_at == at + timedelta(seconds=delay_s)
        early = at + timedelta(seconds=delay_s - 1)
        assert (await deliver_due(ctx, now=early)).due == 0
        at += timedelta(seconds=delay_s)
    assert (await deliver_due(ctx, now=at)).delivered == 1
    assert [s.headers["webhook-id"] for s in receiver.seen] == [event_id] * 4
    for seen in receiver.seen:  # each attempt signed afresh, all valid
        Webhook(ep.secret).verify(seen.body, seen.headers)
    async with ctx.sessions() as session:
        detail = await get_delivery(session, ep.merchant_id, ep.endpoint_id, row.id)
    assert detail is not None and detail.state == "delivered"
    assert [(a.number, a.status) for a in detail.attempt_log] == [
        (1, 503),
        (2, 503),
        (3, 503),
        (4, 200),
    ]
    assert detail.attempt_log[0].error is not None and "503" in detail.attempt_log[0].error
    endpoint = await endpoint_row(ctx, ep)
    assert endpoint.enabled and endpoint.consecutive_failures == 0
    assert endpoint.failing_since is None


async def test_a_delivery_fails_after_the_last_retry(ctx: TaskContext, receiver: Receiver) -> None:
    receiver.fail_first = 100
    ctx = with_settings(ctx, retry_delays_s=(1.0, 2.0))
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    await emit_one(ctx, ep)
    at = utcnow()
    outcomes = []
    for step_s in (0, 1, 2, 60, 3600):
        at += timedelta(seconds=step_s)
        result = await deliver_due(ctx, now=at)
        outcomes.append((result.retrying, result.failed))
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    row = await delivery_of(ctx, ep)
    assert (row.state, row.attempts, row.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.seen) == 3


async def test_an_endpoint_is_disabled_after_failed_deliveries_and_enabled_again(
    ctx: TaskContext, receiver: Receiver
) -> None:
    receiver.fail_first = 4
    ctx = with_settings(ctx, retry_delays_s=(0.0,), disable_after_failed_deliveries=2)
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    await emit_one(ctx, ep)
    await emit_one(ctx, ep)
    at = utcnow()
    assert (await deliver_due(ctx, now=at)).retrying == 2
    endpoint = await endpoint_row(ctx, ep)  # failed attempts alone never disable
    assert endpoint.enabled and endpoint.consecutive_failures == 0
    assert endpoint.failing_since == at
    assert (await deliver_due(ctx, now=at)).failed == 2
    for _ in range(3):
        assert (await deliver_due(ctx, now=at)).due == 0
    assert len(receiver.seen) == 4
    endpoint = await endpoint_row(ctx, ep)
    assert not endpoint.enabled and endpoint.consecutive_failures == 2
    assert endpoint.disabled_reason is not None
    assert "2 deliveries in a row failed for good" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason
    async with ctx.sessions() as session:  # nothing new is queued for a disabled endpoint
        await emit(session, ep.merchant_id, "share.published", PUBLISHED)
        await session.commit()
        count = await session.scalar(select(func.count()).select_from(WebhookDelivery))
        assert count == 2
        await update_endpoint(
            session,
            ep.merchant_id,
            ep.endpoint_id,
            EndpointPatch(enabled=True),
            allow_private=True,
        )
        endpoint = await endpoint_row(ctx, ep)
        assert endpoint.enabled and endpoint.disabled_reason is None
        assert endpoint.consecutive_failures == 0 and endpoint.failing_since is None
        first = (await session.scalars(select(WebhookDelivery.id))).first()
        assert first is not None
        await redeliver(session, ep.merchant_id, ep.endpoint_id, first, now=at)
    result = await deliver_due(ctx, now=at)
    assert (result.due, result.delivered) == (1, 1)
    assert len(receiver.seen) == 5


async def test_an_endpoint_failing_for_hours_is_disabled(
    ctx: TaskContext, receiver: Receiver
) -> None:
    receiver.fail_first = 100
    ctx = with_settings(ctx, retry_delays_s=(7200.0, 7200.0), disable_after_hours=1.5)
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    await emit_one(ctx, ep)
    at = utcnow()
    await deliver_due(ctx, now=at)
    assert (await endpoint_row(ctx, ep)).enabled
    await deliver_due(ctx, now=at + timedelta(hours=2))
    endpoint = await endpoint_row(ctx, ep)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None
    assert "failing for 2.0 hours" in endpoint.disabled_reason


async def test_410_gone_disables_at_once(ctx: TaskContext, receiver: Receiver) -> None:
    receiver.fail_first, receiver.fail_status = 1, 410
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    await emit_one(ctx, ep)
    await deliver_due(ctx)
    endpoint = await endpoint_row(ctx, ep)
    assert not endpoint.enabled and endpoint.disabled_reason is not None
    assert "410" in endpoint.disabled_reason


async def test_concurrent_workers_never_send_one_attempt_twice(
    ctx: TaskContext, receiver: Receiver
) -> None:
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    events = {await emit_one(ctx, ep) for _ in range(30)}
    other_engine = create_engine(ctx.settings.database)
    other = TaskContext(ctx.settings, session_factory(other_engine), ctx.vault, ctx.http, ctx.redis)
    try:
        results = await asyncio.gather(
            deliver_due(ctx), deliver_due(other), deliver_due(ctx), deliver_due(other)
        )
    finally:
        await other_engine.dispose()
    assert sum(r.delivered for r in results) == 30
    ids = [s.headers["webhook-id"] for s in receiver.seen]
    assert len(ids) == 30 and set(ids) == events


async def test_private_addresses_are_refused_unless_allowed(
    ctx: TaskContext, receiver: Receiver
) -> None:
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    await emit_one(ctx, ep)
    strict = with_settings(ctx, allow_private=False)
    result = await deliver_due(strict)
    assert result.retrying == 1
    assert receiver.seen == []
    row = await delivery_of(ctx, ep)
    assert row.last_status is None
    assert row.last_error is not None and row.last_error.startswith("address_not_allowed")


async def test_an_unreachable_receiver_is_a_failed_attempt(
    ctx: TaskContext, receiver: Receiver
) -> None:
    from tests.conftest import free_port

    ep = await new_endpoint(ctx, f"http://127.0.0.1:{free_port()}/hook", ["share.published"])
    await emit_one(ctx, ep)
    assert (await deliver_due(ctx)).retrying == 1
    row = await delivery_of(ctx, ep)
    assert row.last_error is not None and row.last_error.startswith("connection_failed")


async def test_the_scan_is_a_periodic_job_on_the_webhooks_queue(
    ctx: TaskContext, receiver: Receiver
) -> None:
    scan = get("webhooks.scan")
    assert scan.queue == "webhooks" and scan.every_s is not None and scan.every_s <= 10
    assert get("webhooks.deliver").queue == "webhooks"
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    await emit_one(ctx, ep)
    summary = await scan.fn(ctx)
    assert summary["delivered"] == 1
    assert json.loads(receiver.seen[0].body)["type"] == "share.published"


async def test_deleting_an_endpoint_deletes_its_log(ctx: TaskContext, receiver: Receiver) -> None:
    from hub.storage.models import WebhookAttempt
    from hub.webhooks.endpoints import delete_endpoint

    receiver.fail_first = 1
    ep = await new_endpoint(ctx, receiver.url, ["share.published"])
    keep = await new_endpoint(ctx, receiver.url, ["share.published"], ep.merchant_id)
    await emit_one(ctx, ep)
    await deliver_due(ctx)
    async with ctx.sessions() as session:
        assert await delete_endpoint(session, ep.merchant_id, ep.endpoint_id)
        assert not await delete_endpoint(session, ep.merchant_id + 1, keep.endpoint_id)
        attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
        left = (await session.scalars(select(WebhookDelivery.endpoint_id))).all()
    assert attempts == 1 and left == [keep.endpoint_id]
