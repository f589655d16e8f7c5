"""Fetch a product page safely.

Every hop of a fetch (the first URL and each redirect target) is checked before anything is sent
to it, by `connectors.netguard`: the scheme must be http or https, the host is resolved here, and
every resolved address must be public unless `ImportOptions.allow_private` is set. The request
then goes to the checked address itself (the `Host` header and the TLS server name keep the real
host name), so a second DNS answer cannot send it elsewhere (DNS rebinding). This works with any
`aiohttp.ClientSession`, including the hub's single shared one. `is_disallowed_address` is
netguard's, named here for the catalog's callers.

Redirects are followed here, not by aiohttp, so each hop is checked and counted. The whole fetch
(resolution, every hop, reading the body) has one time limit, and the body one size limit
counted after decompression.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from connectors.netguard import (
    IPAddress,
    Refused,
    Unreachable,
    check_limits,
    check_url,
    is_disallowed_address,
    open_pinned,
    resolve,
)
from hub.catalog.charset import decode_html
from hub.catalog.errors import FetchFailed, FetchRefused

__all__ = ["FetchedPage", "ImportOptions", "fetch_page", "is_disallowed_address"]

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
        check_limits(
            timeout_s=self.timeout_s, max_redirects=self.max_redirects, user_agent=self.user_agent
        )


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A fetched HTML page. `url` is the final URL after redirects, with its real host name."""

    url: str
    text: str
    encoding: str
    content_type: str | None


def _refused(exc: Refused, url: URL) -> FetchRefused:
    """The catalog's error for a URL or address `connectors.netguard` refused."""
    if exc.reason == "scheme_not_allowed":
        return FetchRefused(
            "scheme_not_allowed",
            f"Only http and https URLs can be imported, not {url.scheme or 'none'}:",
            details={"url": str(url)},
        )
    if exc.reason == "address_not_allowed":
        return FetchRefused(
            "address_not_allowed",
            f"{url.host} is a private, loopback, link-local or otherwise non-public "
            "address; the hub does not fetch those",
            details={"url": str(url), "address": str(exc.address)},
        )
    message = str(exc)
    # A URL with a password in it is not echoed.
    credentials = url.user is not None or url.password is not None
    return FetchRefused(
        "invalid_url",
        message[:1].upper() + message[1:],
        details={} if credentials else {"url": str(url)},
    )


def _check(url: URL) -> URL:
    """One hop's URL checked (scheme, no credentials, a host), without its fragment."""
    try:
        return check_url(url)
    except Refused as exc:
        raise _refused(exc, url) from None


def _parse_url(raw: str) -> URL:
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError) as exc:
        raise FetchRefused("invalid_url", f"Not a valid URL: {raw!r}") from exc
    if url.is_absolute():
        return url.with_fragment(None)
    if url.scheme:
        try:
            check_url(url)
        except Refused as exc:  # says which scheme is refused (javascript:, mailto:)
            if exc.reason == "scheme_not_allowed":
                raise _refused(exc, url) from None
    raise FetchRefused("invalid_url", f"Not an absolute URL: {raw!r}")


async def _resolve(url: URL, options: ImportOptions) -> list[IPAddress]:
    try:
        return await resolve(url, allow_private=options.allow_private)
    except Refused as exc:
        raise _refused(exc, url) from None
    except Unreachable as exc:
        raise FetchFailed("dns_failed", f"The host {exc}", details={"host": url.raw_host}) from exc


async def _open(
    session: aiohttp.ClientSession,
    url: URL,
    addresses: list[IPAddress],
    options: ImportOptions,
) -> aiohttp.ClientResponse:
    """Send the GET to the first checked address that accepts a connection."""
    try:
        return await open_pinned(
            session,
            url,
            addresses,
            headers={"User-Agent": options.user_agent, "Accept": _ACCEPT},
            client_timeout=aiohttp.ClientTimeout(total=options.timeout_s),
        )
    except aiohttp.ClientSSLError as exc:
        raise FetchFailed(
            "tls_failed", f"TLS with {url.host} failed", details={"url": str(url)}
        ) from exc
    except Unreachable as exc:
        raise FetchFailed(
            "connection_failed", f"Could not connect to {url.host}", details={"url": str(url)}
        ) from exc
    except aiohttp.ClientError as exc:
        raise FetchFailed(
            "connection_failed", f"Fetching {url} failed", details={"url": str(url)}
        ) from exc


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
        url = _check(url)
        addresses = await _resolve(url, options)
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
