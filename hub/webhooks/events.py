"""The event types merchants can subscribe to, and the shape of each one's ``data``.

This is the one list of event types: the API validates subscriptions against it and
:func:`hub.webhooks.emit` validates payloads with the model registered here. Every delivery's
body is the Standard Webhooks envelope::

    {"type": "share.published", "timestamp": "2026-11-25T12:00:00Z", "data": {...}}

Models allow extra fields, so an event's data may grow without a change here; the listed
fields are the contract receivers can rely on. Times are ISO 8601 in UTC; money is in minor
units of its currency (``amount_minor: 2450`` with ``currency: "USD"`` is 24.50 USD).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "ConversionAttributed",
    "Credit",
    "EventType",
    "ShareDeferred",
    "ShareFailed",
    "SharePublished",
    "envelope",
]


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# An aware time, sent in UTC with a Z ("2026-11-25T12:00:00Z"); naive times are refused.
UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(lambda v: v.astimezone(UTC)),
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
]


class EventType(StrEnum):
    SHARE_PUBLISHED = "share.published"
    SHARE_FAILED = "share.failed"
    SHARE_DEFERRED = "share.deferred"
    CONVERSION_ATTRIBUTED = "conversion.attributed"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _TargetData(_Data):
    """One share target: the post of one share on one channel account."""

    share_id: int
    share_target_id: int
    channel_account_id: int
    channel_kind: str
    product_id: int | None = None
    campaign_id: int | None = None


class SharePublished(_TargetData):
    remote_id: str | None = None
    remote_url: str | None = None
    link_url: str | None = None
    published_at: UtcTime


class ShareFailed(_TargetData):
    # Why publishing stopped for good, for people, and the connector's code for machines.
    reason: str
    error_code: str | None = None
    attempts: int | None = None
    failed_at: UtcTime


class ShareDeferred(_TargetData):
    # The policy rule that moved the target ("quiet_hours", "max_posts_per_24h", "min_gap",
    # "same_product", "near_duplicate", "rate_limited") and the new due time.
    reason: str
    due_at: UtcTime


class Credit(_Data):
    model: str
    weight: float = Field(ge=0)
    revenue_minor: float = Field(ge=0)
    click_id: str | None = None
    link_id: int | None = None
    channel_account_id: int | None = None
    channel_kind: str | None = None
    campaign_id: int | None = None
    product_id: int | None = None


class ConversionAttributed(_Data):
    conversion_id: int
    order_id: str
    amount_minor: int
    currency: str = Field(min_length=3, max_length=3)
    occurred_at: UtcTime
    customer_id: int | None = None
    credits: list[Credit] = Field(default_factory=list)


EVENT_MODELS: dict[EventType, type[_Data]] = {
    EventType.SHARE_PUBLISHED: SharePublished,
    EventType.SHARE_FAILED: ShareFailed,
    EventType.SHARE_DEFERRED: ShareDeferred,
    EventType.CONVERSION_ATTRIBUTED: ConversionAttributed,
}


def envelope(
    event_type: EventType, data: BaseModel | Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """The body of every delivery of one event; raises ``pydantic.ValidationError`` if wrong."""
    model = EVENT_MODELS[event_type]
    checked = model.model_validate(data.model_dump() if isinstance(data, BaseModel) else dict(data))
    return {
        "type": event_type.value,
        "timestamp": _iso_utc(at),
        "data": checked.model_dump(mode="json"),
    }
