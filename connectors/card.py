"""In-process values that flow through a connector: the card in, the post and the result out.

A `Card` is what the merchant wants to show; a `RenderedPost` is one channel's ready-to-send
payload (always within that channel's limits, the tracked link intact); a `PublishResult` is what
the channel gave back, enough to retract the post later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["Card", "PublishResult", "RenderedPost"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class Card:
    """A product card, independent of any channel.

    `price` and `currency` go together (both set or both ``None``); `currency` is an ISO 4217
    code; `locale` is a BCP 47 / POSIX locale tag used for price formatting.
    """

    title: str
    description: str
    product_url: str
    price: Decimal | None = None
    currency: str | None = None
    image_url: str | None = None
    tags: tuple[str, ...] = ()
    locale: str = "en"

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("card title must not be blank")
        if not self.product_url.startswith(("https://", "http://")):
            raise ValueError("card product_url must be an absolute http(s) URL")
        if self.image_url is not None and not self.image_url.startswith(("https://", "http://")):
            raise ValueError("card image_url must be an absolute http(s) URL")
        if (self.price is None) != (self.currency is None):
            raise ValueError("card price and currency must be given together")
        if self.price is not None and (not self.price.is_finite() or self.price < 0):
            raise ValueError("card price must be a finite, non-negative Decimal")
        if self.currency is not None and not _CURRENCY.match(self.currency):
            raise ValueError("card currency must be an ISO 4217 code such as 'EUR'")
        if not _LOCALE.match(self.locale):
            raise ValueError(f"card locale {self.locale!r} is not a locale tag")
        if not isinstance(self.tags, tuple):
            raise TypeError("card tags must be a tuple of strings")


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """One channel's post for one card.

    - `kind`: the connector that rendered it (a post is only published by that connector).
    - `payload`: the channel-ready request body, without destination or credentials (the
      connector adds those from the config when publishing). Treat it as read-only.
    - `text`: the post's text as the channel counts it (markup stripped where the channel
      counts after parsing, escaped where it counts what was typed).
    - `text_limit`: the limit that applied to `text`, in `limits.text_unit` units (a Telegram
      caption has a smaller limit than a message, for instance).
    - `link`: the tracked link, present and intact in `payload`.
    """

    kind: str
    payload: Mapping[str, Any]
    text: str
    text_limit: int
    link: str
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a channel returned for a published post.

    `remote_id` is opaque and owned by the connector: pass it back unchanged to
    `Connector.delete`. `raw` keeps a few ids from the response (never credentials).
    """

    kind: str
    remote_id: str
    remote_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
