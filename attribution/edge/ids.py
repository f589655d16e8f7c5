"""Ids and addresses of the edge: click and visitor ids, the cookie, and stored client IPs."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from base64 import urlsafe_b64encode
from secrets import token_urlsafe
from typing import Literal

__all__ = ["IpMasker", "new_id", "new_id_pair", "read_cookie", "visitor_cookie"]

_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_id() -> str:
    """22 URL-safe characters, 128 random bits: click ids and visitor ids."""
    return token_urlsafe(16)


class _IdPairs:
    """Pairs of 22-character ids (132 random bits each), cut from one ``os.urandom`` draw
    per :data:`_PAIRS_PER_DRAW` pairs: a system call and an encoding per redirect cost more
    than the rest of the edge's own work. Each pair is 33 fresh bytes, never reused; the
    stock is dropped in a forked child so parent and child never share ids."""

    __slots__ = ("_i", "_stock")

    def __init__(self) -> None:
        self._stock = ""
        self._i = 0

    def __call__(self) -> tuple[str, str]:
        i = self._i
        if i == len(self._stock):
            self._stock = urlsafe_b64encode(os.urandom(33 * _PAIRS_PER_DRAW)).decode()
            i = 0
        self._i = i + 44
        return self._stock[i : i + 22], self._stock[i + 22 : i + 44]

    def drop(self) -> None:
        self._stock, self._i = "", 0


_PAIRS_PER_DRAW = 256
new_id_pair = _IdPairs()
os.register_at_fork(after_in_child=new_id_pair.drop)


def read_cookie(header: str | None, name_eq: str) -> str | None:
    """The value of cookie ``name_eq`` (``"name="``) when it is a well-formed id, else None.

    Hand-rolled: parsing the whole header with ``http.cookies`` costs more than the rest of
    the redirect.
    """
    if not header:
        return None
    start = 0
    while True:
        i = header.find(name_eq, start)
        if i == -1:
            return None
        if i == 0 or header[i - 1] in "; ":
            break
        start = i + 1
    i += len(name_eq)
    j = header.find(";", i)
    value = (header[i:] if j == -1 else header[i:j]).strip().strip('"')
    return value if _ID.match(value) else None


def visitor_cookie(name: str, max_age_s: int, *, secure: bool) -> str:
    """The ``Set-Cookie`` attributes after ``name=value``: first-party, not for scripts."""
    return f"; Max-Age={max_age_s}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


class IpMasker:
    """A client address as stored: truncated to /24 and /48, salted-hashed, or dropped."""

    __slots__ = ("_cache", "_key", "_mode")

    def __init__(self, mode: Literal["truncate", "hash", "none"], secret: str) -> None:
        self._mode = mode
        self._key = hashlib.sha256(b"hub-edge-ip:" + secret.encode()).digest()
        self._cache: dict[str, str | None] = {}

    def __call__(self, ip: str | None) -> str | None:
        if ip is None or self._mode == "none":
            return None
        if self._mode == "truncate" and "." in ip and ":" not in ip:
            head, _, _ = ip.rpartition(".")
            return head + ".0"
        masked = self._cache.get(ip)
        if masked is None:
            masked = self._mask(ip)
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[ip] = masked
        return masked

    def _mask(self, ip: str) -> str | None:
        if self._mode == "hash":
            return hmac.new(self._key, ip.encode(), hashlib.sha256).hexdigest()[:32]
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        prefix = 24 if address.version == 4 else 48
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        return str(network.network_address)
