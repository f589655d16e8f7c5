"""Channel connectors: render a product card into one channel's post within its limits,
publish it, retract it, and say what a failure means.

A pure library: it imports nothing of the hub. Get a connector by kind::

    connector = connectors.get("telegram")
    config = connector.parse_config(stored_settings)
    post = connector.render(card, link)
    result = await connector.publish(post, config, session, idempotency_key=target_key)

Connectors that upload the product image download it from public hosts only; the hub passes
its own rule with ``connector.with_media(MediaPolicy(...))``.
"""

from __future__ import annotations

from connectors._media import MediaPolicy
from connectors._shorten import shorten
from connectors._tokens import FreshToken, MemoryTokenStore, TokenStore
from connectors.base import Connector, ConnectorConfig, config_to_dict
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import (
    AuthExpired,
    ConnectorError,
    ErrorKind,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from connectors.limits import ChannelLimits, Markup, Rate, RateScope, TextUnit
from connectors.registry import get, kinds, register

__all__ = [
    "AuthExpired",
    "Card",
    "ChannelLimits",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ErrorKind",
    "FreshToken",
    "Markup",
    "MediaPolicy",
    "MemoryTokenStore",
    "Misconfigured",
    "OutcomeUnknown",
    "PermanentError",
    "PublishResult",
    "QuotaExhausted",
    "Rate",
    "RateLimited",
    "RateScope",
    "RenderedPost",
    "TextUnit",
    "TokenStore",
    "TransientError",
    "config_to_dict",
    "get",
    "kinds",
    "register",
    "shorten",
]
