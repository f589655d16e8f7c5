"""Small pieces shared by the readers of product data: the partial record each reader returns,
text clean-up, URL resolution and tag splitting."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from bs4 import Tag
from yarl import URL

__all__ = ["Partial", "attr", "clean_text", "combine_tags", "resolve_url", "split_tags"]

_SPACES = re.compile(r"\s+")
_MAX_TAGS = 20
_MAX_TAG_CHARS = 64


@dataclass(frozen=True, slots=True)
class Partial:
    """What one source of product data says; every field may be missing."""

    title: str | None = None
    description: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    image_url: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (
            self.title
            or self.description
            or self.price is not None
            or self.currency
            or self.image_url
            or self.url
            or self.tags
        )


def attr(tag: Tag, name: str) -> str | None:
    """An attribute as one string (multi-valued attributes such as rel are joined by spaces)."""
    value = tag.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return " ".join(value)


def clean_text(value: object, *, unescape: bool = False) -> str | None:
    """Collapse whitespace; None for anything that is not a non-empty string."""
    if not isinstance(value, str):
        return None
    text = html.unescape(value) if unescape else value
    text = _SPACES.sub(" ", text).strip()
    return text or None


def resolve_url(base: str, value: object) -> str | None:
    """`value` resolved against `base`, if the result is an http(s) URL with a host."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        resolved = URL(base).join(URL(value.strip()))
    except (ValueError, TypeError):
        return None
    if resolved.scheme not in ("http", "https") or not resolved.raw_host:
        return None
    return str(resolved)


def combine_tags(*groups: Iterable[str]) -> tuple[str, ...]:
    """Distinct tags (case-insensitively, first spelling kept), at most 20 of up to 64 chars."""
    tags: list[str] = []
    seen: set[str] = set()
    for group in groups:
        for part in group:
            tag = clean_text(part)
            if tag is None or len(tag) > _MAX_TAG_CHARS or tag.casefold() in seen:
                continue
            seen.add(tag.casefold())
            tags.append(tag)
            if len(tags) == _MAX_TAGS:
                return tuple(tags)
    return tuple(tags)


def split_tags(values: Iterable[str], separators: str = ",") -> tuple[str, ...]:
    """Split keyword or category strings at any of `separators` into distinct tags."""
    pattern = "[" + re.escape(separators) + "]"
    return combine_tags(part for value in values for part in re.split(pattern, value))
