"""Requests to URLs a stranger chose (a product page names its own image): each hop is checked
and then sent to the very address that was checked.

- `check_url`: http or https, a host, no user name or password in the URL.
- `resolve`: the host's addresses (a literal address as it is); each must be public
  (`is_disallowed_address`), unless private ones are allowed or it lies in one of the
  explicitly allowed networks.
- `open_pinned`: the request (a GET, or a POST with a body) goes to the checked address itself
  (the URL's host is replaced by the address; the ``Host`` header and the TLS server name keep
  the real host name), so a second DNS answer cannot send it elsewhere (DNS rebinding). Works
  with any `aiohttp.ClientSession`.

Used by the connectors (product images) and by the hub (product pages, outbound webhooks).
Redirects are never followed here: the caller checks every ``Location`` as a new hop.
Failures are `Refused` (nothing was sent: the URL or its address is not allowed; its `reason`
says which rule) and `Unreachable` (DNS or connection failed); the caller maps them to its own
errors.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
from collections.abc import Mapping

import aiohttp
from yarl import URL

__all__ = [
    "IPAddress",
    "IPNetwork",
    "Refused",
    "Unreachable",
    "check_limits",
    "check_url",
    "is_disallowed_address",
    "open_pinned",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = frozenset({"http", "https"})
_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class Refused(ValueError):
    """The URL or an address of its host is not allowed; nothing was sent.

    `reason` names the rule: ``"invalid_url"`` (not a URL, a user name or password in it, no
    host), ``"scheme_not_allowed"`` or ``"address_not_allowed"``, and then `address` is the
    refused address.
    """

    def __init__(
        self, message: str, *, reason: str = "invalid_url", address: IPAddress | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.address = address


class Unreachable(OSError):
    """The host could not be resolved or connected to."""


def is_disallowed_address(address: IPAddress) -> bool:
    """True for addresses not to be reached unless private ones are allowed.

    Private, loopback, link-local, multicast, reserved, unspecified and every other non-global
    range (carrier-grade NAT, documentation, benchmarking, site-local). IPv4-mapped IPv6 is
    judged by its IPv4 address; 6to4 by the IPv4 address it embeds as well.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_disallowed_address(address.ipv4_mapped)
        if address.sixtofour is not None and is_disallowed_address(address.sixtofour):
            return True
        if address.is_site_local:
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def check_limits(*, timeout_s: float, max_redirects: int, user_agent: str) -> None:
    """`ValueError` unless the limits of a guarded fetch are sane (its settings' check)."""
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError("timeout_s must be a positive number of seconds")
    if max_redirects < 0:
        raise ValueError("max_redirects must be 0 or more")
    if not user_agent.strip() or any(c in user_agent for c in "\r\n\0"):
        raise ValueError("user_agent must be a non-empty single line")


def check_url(raw: str | URL) -> URL:
    """`raw` as an absolute http(s) URL without credentials or fragment, else `Refused`."""
    try:
        url = raw if isinstance(raw, URL) else URL(raw.strip())
    except (ValueError, TypeError):
        raise Refused("not a valid URL") from None
    if url.scheme not in _SCHEMES:
        raise Refused(
            f"only http and https URLs are fetched, not {url.scheme or 'none'}:",
            reason="scheme_not_allowed",
        )
    if url.user is not None or url.password is not None:
        raise Refused("URLs with a user name or password are not fetched")
    if not url.raw_host:
        raise Refused("the URL has no host")
    return url.with_fragment(None)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _in_networks(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


async def resolve(
    url: URL, *, allow_private: bool, allowed_networks: tuple[IPNetwork, ...] = ()
) -> list[IPAddress]:
    """The addresses of `url`'s host, every one of them allowed; `Refused` when one is not
    (a host that also resolves to an internal address is refused as a whole)."""
    host = url.raw_host or ""
    addresses: list[IPAddress] = []
    literal = _literal(host)
    if literal is not None:
        addresses.append(literal)
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError):
            raise Unreachable(f"{host} could not be resolved") from None
        for family, _type, _proto, _name, sockaddr in infos:
            address = _literal(str(sockaddr[0])) if family in _FAMILIES else None
            if address is not None and address not in addresses:
                addresses.append(address)
        if not addresses:
            raise Unreachable(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            if is_disallowed_address(address) and not _in_networks(address, allowed_networks):
                raise Refused(
                    f"{host} is a private, loopback, link-local or otherwise non-public "
                    f"address ({address})",
                    reason="address_not_allowed",
                    address=address,
                )
    return addresses


async def open_pinned(
    session: aiohttp.ClientSession,
    url: URL,
    addresses: list[IPAddress],
    *,
    headers: Mapping[str, str],
    client_timeout: aiohttp.ClientTimeout,
    method: str = "GET",
    data: bytes | None = None,
) -> aiohttp.ClientResponse:
    """Send `method` (with `data` as the body, if any) to `url` at the first of its checked
    `addresses` that accepts a connection, without following redirects. The caller releases
    the response. `Unreachable` when none does (its cause is the last connection error)."""
    host = url.raw_host or ""
    sent = {**headers, "Host": url.host_port_subcomponent or host}
    server_hostname = host.rstrip(".") if url.scheme == "https" else None
    last_error: aiohttp.ClientConnectorError | None = None
    for address in addresses:
        try:
            pinned = url.with_host(str(address))
        except ValueError:  # e.g. a scoped IPv6 address yarl will not put in a URL
            continue
        try:
            return await session.request(
                method,
                pinned,
                data=data,
                headers=sent,
                allow_redirects=False,
                raise_for_status=False,
                server_hostname=server_hostname,
                timeout=client_timeout,
            )
        except aiohttp.ClientSSLError:
            raise  # the address answered; its certificate is wrong: no other address helps
        except aiohttp.ClientConnectorError as exc:
            last_error = exc  # try the next address; protocol errors propagate
    raise Unreachable(f"could not connect to {host}") from last_error
