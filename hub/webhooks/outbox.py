"""``emit``: record an event for every subscribed endpoint, inside the caller's transaction.

The outbox pattern: the deliveries are rows written with the change that caused them, so an
event is sent if and only if that change commits. Nothing is sent here; the periodic job
``webhooks.scan`` (queue ``webhooks``) picks pending deliveries up within seconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.storage.models import WebhookDelivery, WebhookEndpoint
from hub.storage.types import utcnow
from hub.webhooks.events import EventType, envelope

__all__ = ["emit", "new_event_id"]

log = structlog.get_logger("hub.webhooks")

_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


async def emit(
    session: AsyncSession,
    merchant_id: int,
    event_type: EventType | str,
    payload: BaseModel | Mapping[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> str:
    """Queue ``event_type`` for each enabled endpoint of the merchant subscribed to it.

    ``payload`` is the event's ``data`` (a model of :mod:`hub.webhooks.events` or a mapping
    it validates; ``ValueError`` if it does not). ``event_id`` becomes the ``webhook-id``
    header; pass a deterministic one (e.g. ``f"share.published:{target_id}"``) to make a
    retried caller emit once: endpoints that already have that event are skipped. Returns the
    event id. Flushes, never commits: the caller's commit sends the event.
    """
    kind = EventType(event_type)
    if event_id is None:
        event_id = new_event_id()
    elif not _EVENT_ID.match(event_id):
        raise ValueError("event_id: expected 1-64 characters of A-Z a-z 0-9 _ . : -")
    body = envelope(kind, payload, occurred_at or utcnow())
    endpoints = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.enabled.is_(True)
            )
        )
    ).all()
    targets = [row.id for row in endpoints if kind.value in (row.event_types or [])]
    if not targets:
        return event_id
    seen = set(
        (
            await session.scalars(
                select(WebhookDelivery.endpoint_id).where(
                    WebhookDelivery.event_id == event_id,
                    WebhookDelivery.endpoint_id.in_(targets),
                )
            )
        ).all()
    )
    now = utcnow()
    fresh = [endpoint_id for endpoint_id in targets if endpoint_id not in seen]
    for endpoint_id in fresh:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id,
                merchant_id=merchant_id,
                event_id=event_id,
                event_type=kind.value,
                payload=body,
                state="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
    await session.flush()
    log.info(
        "webhook_event_queued",
        merchant_id=merchant_id,
        event_id=event_id,
        event_type=kind.value,
        endpoints=len(fresh),
    )
    return event_id
