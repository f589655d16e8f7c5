"""Checking who signed an inbound hook: Standard Webhooks, Shopify and WooCommerce.

Standard Webhooks (https://www.standardwebhooks.com): the sender puts ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` on the request. The signature
header holds one or more space-separated ``v1,<base64 HMAC-SHA256>`` entries (several while a
secret is being rotated); each is an HMAC of ``"{id}.{timestamp}.{raw body}"`` under the key
whose base64 follows ``whsec_`` in the merchant's secret. A timestamp further than the
tolerance from now is refused in either direction (replays and clock games).

Shopify (``X-Shopify-Hmac-Sha256``) and WooCommerce (``X-WC-Webhook-Signature``) sign the raw
body alone: base64 of HMAC-SHA256 under the app's or webhook's secret as UTF-8 text.

Why our own verifier and not the ``standardwebhooks`` package at run time: that package fixes
the tolerance at five minutes, decodes the body as text before checking it, and raises
``ValueError`` on a malformed signature entry; ours takes the tolerance from the settings,
works on bytes and turns every malformed header into one :class:`SignatureError`. The tests
sign with that package, so the two are checked against each other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "SignatureError",
    "SignedMessage",
    "check_timestamp",
    "parse_headers",
    "secret_key_bytes",
    "sign",
    "verify",
    "verify_body_hmac",
]

_PREFIX = "whsec_"
# A stand-in key so that an unknown merchant costs the same work as a known one.
DUMMY_KEY = b"\x00" * 32


class SignatureError(Exception):
    """The hook's signature or timestamp does not check out; the message says which part."""


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """The Standard Webhooks headers of one delivery, parsed."""

    message_id: str
    timestamp: int
    signatures: tuple[bytes, ...]


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional)."""
    raw = secret.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not base64 after its whsec_ prefix") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def parse_headers(headers: Mapping[str, str]) -> SignedMessage:
    """Read the three headers; raise :class:`SignatureError` when one is missing or malformed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id", "").strip()
    raw_ts = lowered.get("webhook-timestamp", "").strip()
    raw_sig = lowered.get("webhook-signature", "").strip()
    if not (message_id and raw_ts and raw_sig):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(message_id) > 256:
        raise SignatureError("webhook-id is too long")
    if not raw_ts.isdigit() or len(raw_ts) > 12:
        raise SignatureError("webhook-timestamp is not Unix seconds")
    signatures: list[bytes] = []
    for entry in raw_sig.split():
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue  # other schemes (e.g. v1a asymmetric) are not ours to check
        try:
            signatures.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not signatures:
        raise SignatureError("webhook-signature has no v1 signature")
    return SignedMessage(message_id, int(raw_ts), tuple(signatures))


def check_timestamp(message: SignedMessage, now: datetime, tolerance: timedelta) -> None:
    """Refuse a timestamp older or newer than ``tolerance`` around ``now``."""
    age_s = now.timestamp() - message.timestamp
    if age_s > tolerance.total_seconds():
        raise SignatureError("webhook-timestamp is too old")
    if -age_s > tolerance.total_seconds():
        raise SignatureError("webhook-timestamp is in the future")


def _digest(key: bytes, message_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature entry of one message."""
    return "v1," + base64.b64encode(_digest(key, message_id, timestamp, body)).decode("ascii")


def verify(key: bytes, message: SignedMessage, body: bytes) -> None:
    """Accept when any of the message's signatures matches; constant time per comparison."""
    expected = _digest(key, message.message_id, message.timestamp, body)
    matched = False
    for candidate in message.signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("no signature matches")


def verify_body_hmac(secret: str, body: bytes, header: str | None) -> None:
    """Shopify / WooCommerce: ``header`` is base64 HMAC-SHA256 of ``body`` under ``secret``."""
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    try:
        given = base64.b64decode((header or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    if not hmac.compare_digest(expected, given):
        raise SignatureError("body signature does not match")
