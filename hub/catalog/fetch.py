"""Fetch a product page safely.

Every hop of a fetch (the first URL and each redirect target) is checked before anything is sent
to it: the scheme must be http or https, the host is resolved here, and every resolved address
must be public unless `ImportOptions.allow_private` is set. The request then goes to the checked
address itself (the URL's host is replaced by the address; the `Host` header and the TLS server
name keep the real host name), so a second DNS answer cannot send it elsewhere (DNS rebinding).
This works with any `aiohttp.ClientSession`, including the hub's single shared one.

Redirects are followed here, not by aiohttp, so each hop is checked and counted. The whole fetch
(resolution, every hop, reading the body) has one time limit, and the body one size limit
counted after decompression.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
from dataclasses import dataclass

import aiohttp
from yarl import URL

from hub.catalog.charset import decode_html
from hub.catalog.errors import FetchFailed, FetchRefused

__all__ = ["FetchedPage", "ImportOptions", "fetch_page", "is_disallowed_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = frozenset({"http", "https"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Limits of a product import; built by the hub's settings, never read from the env here."""

    max_bytes: int = 2 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = "hub-product-import/0.1"

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError("timeout_s must be a positive number of seconds")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be 0 or more")
        if not self.user_agent.strip() or any(c in self.user_agent for c in "\r\n\0"):
            raise ValueError("user_agent must be a non-empty single line")


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A fetched HTML page. `url` is the final URL after redirects, with its real host name."""

    url: str
    text: str
    encoding: str
    content_type: str | None


def is_disallowed_address(address: IPAddress) -> bool:
    """True for addresses a product import must not reach unless private ones are allowed.

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


def _parse_url(raw: str) -> URL:
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError) as exc:
        raise FetchRefused("invalid_url", f"Not a valid URL: {raw!r}") from exc
    if url.scheme and url.scheme not in _SCHEMES:
        _check_url(url)  # says which scheme is refused
    if not url.is_absolute():
        raise FetchRefused("invalid_url", f"Not an absolute URL: {raw!r}")
    return url.with_fragment(None)


def _check_url(url: URL) -> str:
    """Check the scheme and host of one hop; return the host to resolve."""
    if url.scheme not in _SCHEMES:
        raise FetchRefused(
            "scheme_not_allowed",
            f"Only http and https URLs can be imported, not {url.scheme or 'none'}:",
            details={"url": str(url)},
        )
    if url.user is not None or url.password is not None:
        raise FetchRefused(
            "invalid_url", "URLs with a user name or password are not fetched", details={}
        )
    host = url.raw_host
    if not host:
        raise FetchRefused("invalid_url", "The URL has no host", details={"url": str(url)})
    return host


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:
        raise FetchFailed(
            "dns_failed", f"The host {host} could not be resolved", details={"host": host}
        ) from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = _literal_address(str(sockaddr[0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchFailed("dns_failed", f"The host {host} has no address", details={"host": host})
    return addresses


def _check_addresses(url: URL, addresses: list[IPAddress], options: ImportOptions) -> None:
    if options.allow_private:
        return
    for address in addresses:
        if is_disallowed_address(address):
            raise FetchRefused(
                "address_not_allowed",
                f"{url.host} is a private, loopback, link-local or otherwise non-public "
                "address; the hub does not fetch those",
                details={"url": str(url), "address": str(address)},
            )


async def _open(
    session: aiohttp.ClientSession,
    url: URL,
    addresses: list[IPAddress],
    options: ImportOptions,
) -> aiohttp.ClientResponse:
    """Send the GET to the first checked address that accepts a connection."""
    host = url.raw_host
    assert host is not None
    headers = {
        "Host": url.host_port_subcomponent or host,
        "User-Agent": options.user_agent,
        "Accept": _ACCEPT,
    }
    server_hostname = host.rstrip(".") if url.scheme == "https" else None
    last_error: Exception | None = None
    for address in addresses:
        try:
            pinned = url.with_host(str(address))
        except ValueError as exc:  # e.g. a scoped IPv6 address yarl will not put in a URL
            last_error = exc
            continue
        try:
            return await session.get(
                pinned,
                headers=headers,
                allow_redirects=False,
                raise_for_status=False,
                server_hostname=server_hostname,
                timeout=aiohttp.ClientTimeout(total=options.timeout_s),
            )
        except aiohttp.ClientSSLError as exc:
            raise FetchFailed(
                "tls_failed", f"TLS with {url.host} failed", details={"url": str(url)}
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            last_error = exc
        except aiohttp.ClientError as exc:
            raise FetchFailed(
                "connection_failed", f"Fetching {url} failed", details={"url": str(url)}
            ) from exc
    raise FetchFailed(
        "connection_failed", f"Could not connect to {url.host}", details={"url": str(url)}
    ) from last_error


async def _read_limited(response: aiohttp.ClientResponse, url: URL, max_bytes: int) -> bytes:
    too_large = FetchFailed(
        "too_large",
        f"The page is larger than the limit of {max_bytes} bytes",
        details={"url": str(url), "max_bytes": max_bytes},
    )
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


def _check_content_type(response: aiohttp.ClientResponse, url: URL) -> str | None:
    if "Content-Type" not in response.headers:
        return None
    content_type = response.content_type.lower()
    if content_type not in _HTML_TYPES:
        raise FetchFailed(
            "not_html",
            f"The URL returned {content_type}, not an HTML page",
            details={"url": str(url), "content_type": content_type},
        )
    return content_type


def _redirect_target(response: aiohttp.ClientResponse, url: URL) -> URL:
    location = response.headers.get("Location")
    if not location:
        raise FetchFailed(
            "bad_redirect",
            f"HTTP {response.status} without a Location header",
            details={"url": str(url), "status": response.status},
        )
    try:
        return url.join(URL(location)).with_fragment(None)
    except (ValueError, TypeError) as exc:
        raise FetchFailed(
            "bad_redirect",
            "The redirect's Location header is not a valid URL",
            details={"url": str(url), "status": response.status},
        ) from exc


async def _follow(url: URL, session: aiohttp.ClientSession, options: ImportOptions) -> FetchedPage:
    visited = {url}
    for _hop in range(options.max_redirects + 1):
        host = _check_url(url)
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await _resolve(host, port)
        _check_addresses(url, addresses, options)
        response = await _open(session, url, addresses, options)
        try:
            if response.status in _REDIRECT_STATUSES:
                target = _redirect_target(response, url)
                if target in visited:
                    raise FetchFailed(
                        "redirect_loop",
                        "The page redirects in a loop",
                        details={"url": str(url), "location": str(target)},
                    )
                visited.add(target)
                url = target
                response.close()
                continue
            if not 200 <= response.status < 300:
                raise FetchFailed(
                    "http_status",
                    f"The page answered HTTP {response.status}",
                    details={"url": str(url), "status": response.status},
                )
            content_type = _check_content_type(response, url)
            body = await _read_limited(response, url, options.max_bytes)
            header_charset = response.charset
        except aiohttp.ClientError as exc:
            response.close()
            raise FetchFailed(
                "connection_failed",
                f"Reading {url} failed",
                details={"url": str(url)},
            ) from exc
        except BaseException:
            response.close()
            raise
        response.release()
        text, encoding = decode_html(body, header_charset)
        return FetchedPage(url=str(url), text=text, encoding=encoding, content_type=content_type)
    raise FetchFailed(
        "too_many_redirects",
        f"More than {options.max_redirects} redirects",
        details={"url": str(url), "max_redirects": options.max_redirects},
    )


async def fetch_page(
    url: str, session: aiohttp.ClientSession, options: ImportOptions
) -> FetchedPage:
    """Fetch an HTML page within `options`' limits, checking every hop.

    Raises `FetchRefused` before anything is sent to a refused URL, and `FetchFailed` when the
    fetch does not give an HTML page within the limits.
    """
    start = _parse_url(url)
    try:
        async with asyncio.timeout(options.timeout_s):
            return await _follow(start, session, options)
    except TimeoutError as exc:
        raise FetchFailed(
            "timeout",
            f"The page did not load within {options.timeout_s:g} s",
            details={"url": str(start), "timeout_s": options.timeout_s},
        ) from exc
