"""One signed POST to a receiver: checked address, Standard Webhooks headers, an outcome.

The receiver's host is resolved here and every address checked with
:func:`hub.catalog.fetch.is_disallowed_address` (unless private addresses are allowed); the
request then goes to a checked address itself, with the real ``Host`` header and TLS server
name, so a second DNS answer cannot point it elsewhere. Redirects are not followed.

Headers (https://www.standardwebhooks.com): ``webhook-id`` (the event id, the same for every
attempt), ``webhook-timestamp`` (unix seconds of this attempt) and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` keyed by the secret's bytes).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

import aiohttp
from pydantic import SecretStr
from yarl import URL

from connectors.webhook import sign
from hub.catalog.fetch import is_disallowed_address

__all__ = ["Outcome", "post_signed"]

_USER_AGENT = "hub-webhooks/1.0 (+https://www.standardwebhooks.com)"
_ERROR_BODY_CHARS = 200

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


class _Refused(Exception):
    pass


async def _addresses(url: URL, allow_private: bool) -> list[IPAddress]:
    host = url.raw_host or ""
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError):
            raise _Refused(f"dns_failed: {host} could not be resolved") from None
        addresses = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
                if address not in addresses:
                    addresses.append(address)
    if not addresses:
        raise _Refused(f"dns_failed: {host} has no address")
    if not allow_private:
        for address in addresses:
            if is_disallowed_address(address):
                raise _Refused(f"address_not_allowed: {host} resolves to a non-public address")
    return addresses


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
    headers = {
        "Host": target.host_port_subcomponent or (target.raw_host or ""),
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SecretStr(secret), event_id, timestamp, body),
    }
    server_hostname = (target.raw_host or "").rstrip(".") if target.scheme == "https" else None
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await _addresses(target, allow_private)
            last = "connection_failed"
            for address in addresses:
                try:
                    async with http.post(
                        target.with_host(str(address)),
                        data=body,
                        headers=headers,
                        allow_redirects=False,
                        server_hostname=server_hostname,
                    ) as response:
                        if 200 <= response.status < 300:
                            return done(response.status, None)
                        text = (await response.content.read(_ERROR_BODY_CHARS * 4)).decode(
                            "utf-8", "replace"
                        )
                        return done(response.status, f"HTTP {response.status}: {text[:200]}")
                except aiohttp.ClientSSLError:
                    return done(None, "tls_failed")
                except aiohttp.ClientConnectorError as exc:
                    last = f"connection_failed: {exc.strerror or type(exc).__name__}"
            return done(None, last)
    except TimeoutError:
        return done(None, f"timeout: no answer within {timeout_s:g} s")
    except _Refused as exc:
        return done(None, str(exc))
    except aiohttp.ClientError as exc:
        return done(None, f"connection_failed: {type(exc).__name__}")
