"""Outbound webhooks: a merchant's endpoints, the events they get, and their delivery.

Other parts of the hub call :func:`emit` inside their own transaction; the job
``webhooks.scan`` sends what is due, signed the Standard Webhooks way, with retries over
hours (see :mod:`hub.webhooks.delivery`).
"""

from __future__ import annotations

from hub.webhooks.events import (
    EVENT_TYPES,
    ConversionAttributed,
    Credit,
    EventType,
    ShareDeferred,
    ShareFailed,
    SharePublished,
)
from hub.webhooks.outbox import emit, new_event_id

__all__ = [
    "EVENT_TYPES",
    "ConversionAttributed",
    "Credit",
    "EventType",
    "ShareDeferred",
    "ShareFailed",
    "SharePublished",
    "emit",
    "new_event_id",
]
