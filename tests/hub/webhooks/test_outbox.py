"""``emit`` writes deliveries in the caller's transaction, for subscribed endpoints only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.storage.models import WebhookDelivery
from hub.tasks.context import TaskContext
from hub.webhooks import EVENT_TYPES, EventType, ShareDeferred, emit
from hub.webhooks.endpoints import EndpointPatch, InvalidEndpointUrl, check_url, update_endpoint
from tests.hub.webhooks.conftest import new_endpoint

DEFERRED = {
    "share_id": 1,
    "share_target_id": 2,
    "channel_account_id": 3,
    "channel_kind": "mastodon",
    "reason": "quiet_hours",
    "due_at": "2026-11-26T08:00:00+08:00",
}


async def deliveries(ctx: TaskContext) -> list[tuple[int, str, str]]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(
                WebhookDelivery.endpoint_id, WebhookDelivery.event_type, WebhookDelivery.event_id
            ).order_by(WebhookDelivery.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_the_event_types_are_listed_once() -> None:
    assert EVENT_TYPES == (
        "share.published",
        "share.failed",
        "share.deferred",
        "conversion.attributed",
    )


async def test_emit_queues_for_subscribed_enabled_endpoints_of_the_merchant(
    ctx: TaskContext,
) -> None:
    shares = await new_endpoint(ctx, "https://a.example/h", ["share.deferred", "share.failed"])
    sales = await new_endpoint(
        ctx, "https://b.example/h", ["conversion.attributed"], shares.merchant_id
    )
    off = await new_endpoint(ctx, "https://c.example/h", ["share.deferred"], shares.merchant_id)
    stranger = await new_endpoint(ctx, "https://d.example/h", ["share.deferred"])
    async with ctx.sessions() as session:
        await update_endpoint(
            session,
            off.merchant_id,
            off.endpoint_id,
            EndpointPatch(enabled=False),
            allow_private=False,
        )
        event_id = await emit(
            session,
            shares.merchant_id,
            EventType.SHARE_DEFERRED,
            ShareDeferred.model_validate(DEFERRED),
        )
        await session.commit()
    assert await deliveries(ctx) == [(shares.endpoint_id, "share.deferred", event_id)]
    assert sales.endpoint_id and stranger.endpoint_id
    async with ctx.sessions() as session:
        row = (await session.scalars(select(WebhookDelivery))).one()
    assert row.payload["data"]["due_at"] == "2026-11-26T00:00:00Z"
    assert row.payload["type"] == "share.deferred" and row.state == "pending"


async def test_emit_is_part_of_the_callers_transaction(ctx: TaskContext) -> None:
    ep = await new_endpoint(ctx, "https://a.example/h", ["share.deferred"])
    async with ctx.sessions() as session:
        await emit(session, ep.merchant_id, "share.deferred", DEFERRED)
        await session.rollback()
    assert await deliveries(ctx) == []


async def test_a_given_event_id_is_queued_once_per_endpoint(ctx: TaskContext) -> None:
    ep = await new_endpoint(ctx, "https://a.example/h", ["share.deferred"])
    for _ in range(2):
        async with ctx.sessions() as session:
            got = await emit(
                session, ep.merchant_id, "share.deferred", DEFERRED, event_id="share.deferred:2:1"
            )
            await session.commit()
        assert got == "share.deferred:2:1"
    async with ctx.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert count == 1


async def test_emit_refuses_unknown_types_and_wrong_payloads(ctx: TaskContext) -> None:
    ep = await new_endpoint(ctx, "https://a.example/h", ["share.deferred"])
    async with ctx.sessions() as session:
        with pytest.raises(ValueError):
            await emit(session, ep.merchant_id, "share.exploded", DEFERRED)
        with pytest.raises(ValueError):
            await emit(session, ep.merchant_id, "share.deferred", {"share_id": 1})
        with pytest.raises(ValueError):
            await emit(session, ep.merchant_id, "share.deferred", DEFERRED, event_id="a b")
    assert await deliveries(ctx) == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "hooks.example/x",
        "http://user:pw@hooks.example/x",
        "http://127.0.0.1:8080/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://[::ffff:192.168.0.1]/x",
        "http://localhost/x",
        "http://api.localhost/x",
    ],
)
def test_webhook_urls_must_be_public_http(url: str) -> None:
    with pytest.raises(InvalidEndpointUrl):
        check_url(url, allow_private=False)


def test_allowed_webhook_urls() -> None:
    assert check_url("https://hooks.example/x#frag", allow_private=False) == (
        "https://hooks.example/x"
    )
    assert check_url("http://127.0.0.1:9/x", allow_private=True) == "http://127.0.0.1:9/x"
    with pytest.raises(InvalidEndpointUrl):
        check_url("ftp://127.0.0.1/x", allow_private=True)


def test_public_names_are_pinned() -> None:
    import hub.webhooks

    assert sorted(hub.webhooks.__all__) == [
        "ConversionAttributed",
        "Credit",
        "EVENT_TYPES",
        "EventType",
        "ShareDeferred",
        "ShareFailed",
        "SharePublished",
        "emit",
        "new_event_id",
    ]
    for name in hub.webhooks.__all__:
        assert getattr(hub.webhooks, name) is not None
