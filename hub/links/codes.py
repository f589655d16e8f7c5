"""Short codes: random ones from a no-look-alike alphabet, and merchant-chosen slugs.

A generated code is ``code_length`` characters drawn by :mod:`secrets` from a 55-letter
alphabet without ``0 O o 1 l I i``: 8 characters carry ``8 * log2(55) ≈ 46`` random bits,
the minimum length (7) about 40.5. Every code and slug is URL-safe as it stands.

A slug is chosen by the merchant. It must not shadow a path of the hub itself (``/api``,
``/healthz``...), so the reserved words below are refused whatever their case.
"""

from __future__ import annotations

import math
import re
import secrets

from attribution.edge.http import CODE_PATTERN

__all__ = [
    "ALPHABET",
    "CODE_PATTERN",
    "RESERVED",
    "InvalidSlug",
    "code_bits",
    "is_code",
    "new_code",
    "validate_slug",
]

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
MIN_BITS = 40

# What the edge's route accepts: generated codes and slugs alike (CODE_PATTERN).
_CODE = re.compile(rf"^{CODE_PATTERN}$")

# Paths the hub serves itself, or that browsers and crawlers ask every host for.
RESERVED = frozenset(
    {
        "admin",
        "api",
        "apple-touch-icon.png",
        "assets",
        "dashboard",
        "favicon.ico",
        "feeds",
        "healthz",
        "hooks",
        "login",
        "logout",
        "metrics",
        "openapi.json",
        "readyz",
        "robots.txt",
        "sitemap.xml",
        "static",
        "well-known",
    }
)


class InvalidSlug(ValueError):
    """A custom slug is malformed or reserved."""


def code_bits(length: int) -> float:
    """Random bits of a generated code of ``length`` characters."""
    return length * math.log2(len(ALPHABET))


def new_code(length: int) -> str:
    """A fresh random code; refuses lengths below :data:`MIN_BITS` random bits."""
    if code_bits(length) < MIN_BITS:
        raise ValueError(f"code_length {length} gives fewer than {MIN_BITS} random bits")
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if code.lower() not in RESERVED:
            return code


def is_code(value: str) -> bool:
    """True when ``value`` may be a code or slug (the edge's route pattern)."""
    return bool(_CODE.match(value))


def validate_slug(slug: str) -> str:
    """The slug as given when it is usable; :class:`InvalidSlug` says why not."""
    if not _CODE.match(slug):
        raise InvalidSlug(
            "slug: 3-64 characters of letters, digits, '-' and '_', starting with a letter or digit"
        )
    if slug.lower() in RESERVED or slug.lower().startswith(("api-", "api_")):
        raise InvalidSlug(f"slug: {slug!r} is reserved")
    return slug
