"""Outbound webhooks: the merchant's endpoints and every delivery attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.storage.models.base import Base, Created, Json, PkId
from hub.storage.types import BigId

__all__ = ["WebhookAttempt", "WebhookDelivery", "WebhookEndpoint"]


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    # Standard Webhooks signing secret, encrypted with the settings' secret.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    event_types: Mapped[Json] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Deliveries in a row that failed for good (every attempt); any success resets it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # First failed attempt since the last success; None while the endpoint is healthy.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[Created]

    __table_args__ = (Index(None, "merchant_id", "enabled"),)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[PkId]
    endpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    merchant_id: Mapped[int] = mapped_column(BigId)
    # The webhook-id header: the same for every attempt of one event.
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[Json]
    # pending | delivered | failed
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[Created]

    __table_args__ = (
        Index(None, "endpoint_id", "event_id", unique=True),
        Index(None, "state", "next_attempt_at"),
        Index(None, "merchant_id", "created_at"),
    )


class WebhookAttempt(Base):
    """One try of one delivery: what the receiver answered, or why nothing was sent."""

    __tablename__ = "webhook_attempts"

    id: Mapped[PkId]
    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    merchant_id: Mapped[int] = mapped_column(BigId)
    # 1 for the first try of the delivery, counting manual redeliveries too.
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index(None, "delivery_id", "number"),)
