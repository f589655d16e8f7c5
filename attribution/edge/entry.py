"""What the edge knows about a code: a :class:`LinkEntry`, cached in memory and in Redis.

The entry carries the redirect already split around the click id (``location_prefix`` +
click id + ``location_suffix``), so a redirect costs two string concatenations, and the
product card for preview crawlers. It is built by a resolver outside the edge (the hub's SQL
resolver) through :func:`make_entry`, which re-checks the destination against the merchant's
origins: a row that would redirect elsewhere resolves to a disabled entry.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Card", "LinkEntry", "Resolver", "entry_from_json", "entry_to_json", "make_entry"]


@dataclass(frozen=True, slots=True)
class Card:
    """The product card a preview crawler gets (strings as stored; escaped when rendered)."""

    title: str
    description: str = ""
    image_url: str | None = None
    price: str | None = None
    currency: str | None = None
    site_name: str = ""


@dataclass(frozen=True, slots=True)
class LinkEntry:
    link_id: int
    merchant_id: int
    code: str
    destination_url: str
    location_prefix: str
    location_suffix: str
    enabled: bool
    # Unix time in seconds, or None for never.
    expires_at: float | None
    card: Card | None

    def live(self, now: float) -> bool:
        return self.enabled and (self.expires_at is None or now < self.expires_at)


# code -> entry, or None when no link has this code.
Resolver = Callable[[str], Awaitable[LinkEntry | None]]


def make_entry(
    *,
    link_id: int,
    merchant_id: int,
    code: str,
    destination_url: str,
    enabled: bool,
    expires_at: float | None,
    click_id_param: str,
    card: Card | None,
    is_safe: Callable[[str, Sequence[str]], bool],
    origins: Sequence[str],
) -> LinkEntry:
    """An entry; disabled when ``is_safe(destination_url, origins)`` says no (no open redirect)."""
    safe = is_safe(destination_url, origins)
    base, hash_, fragment = destination_url.partition("#")
    sep = "&" if "?" in base else "?"
    return LinkEntry(
        link_id=link_id,
        merchant_id=merchant_id,
        code=code,
        destination_url=destination_url if safe else "",
        location_prefix=f"{base}{sep}{click_id_param}=" if safe else "",
        location_suffix=f"{hash_}{fragment}" if safe else "",
        enabled=enabled and safe,
        expires_at=expires_at,
        card=card,
    )


def entry_to_json(entry: LinkEntry) -> str:
    return json.dumps(asdict(entry), separators=(",", ":"))


def entry_from_json(raw: str | bytes) -> LinkEntry:
    data: dict[str, Any] = json.loads(raw)
    card = data.pop("card")
    return LinkEntry(**data, card=Card(**card) if card is not None else None)
