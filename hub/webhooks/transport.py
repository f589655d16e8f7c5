"""One signed POST to a receiver: checked address, Standard Webhooks headers, an outcome.

The receiver's host is resolved here and every address checked with `connectors.netguard`
(unless private addresses are allowed); the request then goes to a checked address itself
(`connectors.netguard.open_pinned`), with the real ``Host`` header and TLS server name, so a
second DNS answer cannot point it elsewhere. Redirects are not followed.

Headers (https://www.standardwebhooks.com): ``webhook-id`` (the event id, the same for every
attempt), ``webhook-timestamp`` (unix seconds of this attempt) and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` keyed by the secret's bytes).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from pydantic import SecretStr
from yarl import URL

from connectors.netguard import Refused, Unreachable, open_pinned, resolve
from connectors.webhook import sign

__all__ = ["Outcome", "post_signed"]

_USER_AGENT = "hub-webhooks/1.0 (+https://www.standardwebhooks.com)"
_ERROR_BODY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt gave: the HTTP status if any answer came, else why not."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410


async def post_signed(
    http: aiohttp.ClientSession,
    url: str,
    secret: str,
    event_id: str,
    body: bytes,
    *,
    timestamp: int,
    timeout_s: float,
    allow_private: bool,
) -> Outcome:
    """POST ``body`` signed with ``secret``; never raises for anything the receiver does."""
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> Outcome:
        return Outcome(status, error, int((time.monotonic() - started) * 1000))

    target = URL(url)
    host = target.raw_host or ""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SecretStr(secret), event_id, timestamp, body),
    }
    try:
        async with asyncio.timeout(timeout_s):
            try:
                addresses = await resolve(target, allow_private=allow_private)
            except Refused:
                return done(None, f"address_not_allowed: {host} resolves to a non-public address")
            except Unreachable as exc:
                return done(None, f"dns_failed: {exc}")
            try:
                response = await open_pinned(
                    http,
                    target,
                    addresses,
                    headers=headers,
                    client_timeout=aiohttp.ClientTimeout(total=timeout_s),
                    method="POST",
                    data=body,
                )
            except aiohttp.ClientSSLError:
                return done(None, "tls_failed")
            except Unreachable as exc:
                cause = exc.__cause__
                if isinstance(cause, aiohttp.ClientConnectorError):
                    return done(
                        None, f"connection_failed: {cause.strerror or type(cause).__name__}"
                    )
                return done(None, "connection_failed")
            async with response:
                if 200 <= response.status < 300:
                    return done(response.status, None)
                text = (await response.content.read(_ERROR_BODY_CHARS * 4)).decode(
                    "utf-8", "replace"
                )
                return done(response.status, f"HTTP {response.status}: {text[:200]}")
    except TimeoutError:
        return done(None, f"timeout: no answer within {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return done(None, f"connection_failed: {type(exc).__name__}")
