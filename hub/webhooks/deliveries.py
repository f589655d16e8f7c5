"""The delivery log of an endpoint, and manual redelivery (every call scoped).

A delivery is one event for one endpoint: ``pending`` (waiting for its next attempt),
``delivered`` (a 2xx answer) or ``failed`` (every attempt of the retry schedule failed).
Each attempt is kept with the receiver's status or the reason nothing was answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.storage.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.storage.types import utcnow

__all__ = [
    "AttemptOut",
    "DeliveryDetail",
    "DeliveryOut",
    "DeliveryState",
    "EndpointDisabled",
    "get_delivery",
    "list_deliveries",
    "redeliver",
]

DeliveryState = Literal["pending", "delivered", "failed"]


class EndpointDisabled(Exception):
    """A redelivery was asked for on a disabled endpoint; enable it first."""


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=row.id,
            endpoint_id=row.endpoint_id,
            event_id=row.event_id,
            event_type=row.event_type,
            state=row.state,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
            last_status=row.last_status,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut] = Field(default_factory=list)


async def _endpoint_exists(session: AsyncSession, merchant_id: int, endpoint_id: int) -> bool:
    found = await session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.merchant_id == merchant_id
        )
    )
    return found is not None


async def _row(
    session: AsyncSession, merchant_id: int, endpoint_id: int, delivery_id: int
) -> WebhookDelivery | None:
    return (
        await session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.merchant_id == merchant_id,
            )
        )
    ).one_or_none()


async def list_deliveries(
    session: AsyncSession,
    merchant_id: int,
    endpoint_id: int,
    *,
    limit: int,
    before_id: int | None = None,
    state: DeliveryState | None = None,
) -> list[DeliveryOut] | None:
    """Newest first; None when the merchant has no such endpoint."""
    if not await _endpoint_exists(session, merchant_id, endpoint_id):
        return None
    query = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.merchant_id == merchant_id
    )
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    rows = (await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))).all()
    return [DeliveryOut.of(r) for r in rows]


async def get_delivery(
    session: AsyncSession, merchant_id: int, endpoint_id: int, delivery_id: int
) -> DeliveryDetail | None:
    """One delivery with its payload and every attempt, oldest first."""
    row = await _row(session, merchant_id, endpoint_id, delivery_id)
    if row is None:
        return None
    attempts = (
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == row.id)
            .order_by(WebhookAttempt.number, WebhookAttempt.id)
        )
    ).all()
    return DeliveryDetail(
        **DeliveryOut.of(row).model_dump(),
        payload=dict(row.payload),
        attempt_log=[
            AttemptOut(
                number=a.number,
                at=a.at,
                status=a.status,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in attempts
        ],
    )


async def redeliver(
    session: AsyncSession,
    merchant_id: int,
    endpoint_id: int,
    delivery_id: int,
    *,
    now: datetime | None = None,
) -> DeliveryOut | None:
    """Queue one more attempt of the delivery now, whatever its state; None if not found.

    The event keeps its id (the receiver can recognise a resend). If the attempt fails, the
    delivery follows what is left of its retry schedule, or is ``failed`` again.
    """
    endpoint = (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.merchant_id == merchant_id
            )
        )
    ).one_or_none()
    if endpoint is None:
        return None
    row = await _row(session, merchant_id, endpoint_id, delivery_id)
    if row is None:
        return None
    if not endpoint.enabled:
        raise EndpointDisabled(endpoint.disabled_reason or "the endpoint is disabled")
    row.state = "pending"
    row.next_attempt_at = now or utcnow()
    await session.commit()
    return DeliveryOut.of(row)
