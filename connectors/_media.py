"""Product images downloaded for upload (Mastodon, Matrix, X, WeChat Official Account, Weibo),
and the multipart body that carries them.

A product page imported from the web names its own image URL, so the URL is hostile input:
every hop (the first URL and each redirect, at most `MediaPolicy.max_redirects`) must be http
or https and resolve to public addresses only, and the request goes to the address that was
checked (`connectors.netguard`). Private, loopback and link-local hosts are allowed only when
the hub's operator says so (`MediaPolicy.allow_private`, or just the networks listed in
`MediaPolicy.allowed_networks`, e.g. an internal image server). The body is
streamed and abandoned past the channel's size limit; the whole download has one time limit;
the answer must say it is an image and its first bytes must prove it (the returned `Image.mime`
is what the bytes are, not what the header claims).

Failures, in the connectors' taxonomy (`connectors.errors`)::

    PermanentError("image_refused")      the URL or a redirect is not allowed (scheme, user
                                         name, a non-public address): nothing was sent there
    PermanentError("image_unavailable")  4xx, an empty body, a broken or endless redirect chain
    PermanentError("image_type")         not an image, or not one of the channel's types
    PermanentError("image_too_large")    over the channel's limit
    TransientError                       DNS, connection, TLS, time limit, 408, 429, 5xx

Channels whose rule is "post without the picture when it cannot be had" call
`fetch_image_or_none`; the others decide on the error themselves.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from connectors.errors import PermanentError, TransientError
from connectors.netguard import (
    IPNetwork,
    Refused,
    Unreachable,
    check_limits,
    check_url,
    open_pinned,
    resolve,
)

__all__ = [
    "Image",
    "MediaPolicy",
    "fetch_image",
    "fetch_image_or_none",
    "multipart",
    "sniff_image_type",
]

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024
_MAX_FILENAME_CHARS = 100
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Each type's file name extensions, the first one used when a name lacks a fitting one.
_EXTENSIONS = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "image/bmp": (".bmp",),
}


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """How product images may be downloaded. The hub builds it from its own settings
    (``publishing.allow_private_images``); a channel account's config never sets it."""

    allow_private: bool = False
    # Non-public networks allowed anyway (IPv4-mapped IPv6 is judged by its IPv4 address).
    allowed_networks: tuple[IPNetwork, ...] = ()
    max_redirects: int = 3
    timeout_s: float = 30.0
    user_agent: str = "hub-media/1.0"

    def __post_init__(self) -> None:
        check_limits(
            timeout_s=self.timeout_s, max_redirects=self.max_redirects, user_agent=self.user_agent
        )


@dataclass(frozen=True, slots=True)
class Image:
    """A downloaded product image, ready to upload. `mime` is sniffed from the bytes."""

    data: bytes
    mime: str
    filename: str

    def __repr__(self) -> str:
        return f"Image({self.filename!r}, {self.mime!r}, {len(self.data)} bytes)"


def sniff_image_type(data: bytes) -> str | None:
    """The image type the first bytes of `data` prove, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM" and len(data) >= 26:
        return "image/bmp"
    return None


def _filename(url: URL, mime: str) -> str:
    """The URL's last path segment, reduced to safe characters, with an extension of `mime`."""
    name = _NOT_NAME.sub("_", url.name).strip("._")[:_MAX_FILENAME_CHARS]
    extensions = _EXTENSIONS.get(mime, ("",))
    stem, dot, suffix = name.rpartition(".")
    if dot and f".{suffix.lower()}" in extensions:
        return name
    return f"{(stem if dot else name) or 'image'}{extensions[0]}"


def _refused(url: URL | str, reason: object) -> PermanentError:
    host = url.host if isinstance(url, URL) else None
    return PermanentError("image_refused", f"image {host or 'URL'} refused: {reason}")


def _next_hop(response: aiohttp.ClientResponse, url: URL, visited: set[URL]) -> URL:
    location = response.headers.get("Location")
    if not location:
        raise PermanentError(
            "image_unavailable", f"image host {url.host}: HTTP {response.status} without Location"
        )
    try:
        target = check_url(url.join(URL(location)))
    except Refused as exc:
        raise _refused(location, exc) from None
    except ValueError:
        raise PermanentError("image_unavailable", f"image host {url.host}: bad Location") from None
    if target in visited:
        raise PermanentError("image_unavailable", f"image host {url.host}: redirect loop")
    visited.add(target)
    return target


async def _read_image(
    response: aiohttp.ClientResponse, url: URL, mime_types: tuple[str, ...], max_bytes: int
) -> Image:
    status, where = response.status, f"image host {url.host}"
    if status in (408, 429) or status >= 500:
        raise TransientError(f"{where}: http_{status}")
    if status != 200:
        raise PermanentError("image_unavailable", f"{where}: HTTP {status}")
    declared = response.content_type.lower()
    if not declared.startswith("image/"):
        raise PermanentError("image_type", f"{where}: {declared} is not an image")
    too_large = PermanentError("image_too_large", f"{where}: image over {max_bytes} bytes")
    if response.content_length is not None and response.content_length > max_bytes:
        raise too_large
    data = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        data += chunk
        if len(data) > max_bytes:
            raise too_large
    if not data:
        raise PermanentError("image_unavailable", f"{where}: empty body")
    mime = sniff_image_type(bytes(data[:32]))
    if mime is None or mime not in mime_types:
        shown = mime or f"not an image (declared {declared})"
        raise PermanentError("image_type", f"{where}: {shown}; the channel takes {mime_types}")
    return Image(bytes(data), mime, _filename(url, mime))


async def _follow(
    session: aiohttp.ClientSession,
    url: URL,
    policy: MediaPolicy,
    *,
    mime_types: tuple[str, ...],
    max_bytes: int,
    client_timeout: aiohttp.ClientTimeout,
) -> Image:
    headers = {"User-Agent": policy.user_agent, "Accept": ", ".join(mime_types) or "image/*"}
    visited = {url}
    for _hop in range(policy.max_redirects + 1):
        try:
            addresses = await resolve(
                url,
                allow_private=policy.allow_private,
                allowed_networks=policy.allowed_networks,
            )
            response = await open_pinned(
                session, url, addresses, headers=headers, client_timeout=client_timeout
            )
        except Refused as exc:
            raise _refused(url, exc) from None
        except Unreachable as exc:
            raise TransientError(f"image host: {exc}") from None
        try:
            if response.status not in _REDIRECTS:
                return await _read_image(response, url, mime_types, max_bytes)
            url = _next_hop(response, url, visited)
        finally:
            response.close()
    raise PermanentError("image_unavailable", f"image: more than {policy.max_redirects} redirects")


async def fetch_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    policy: MediaPolicy,
    mime_types: tuple[str, ...],
    max_bytes: int,
    client_timeout: aiohttp.ClientTimeout,
) -> Image:
    """Download the product image at `url` for upload, under `policy`: one of `mime_types`,
    at most `max_bytes`; `client_timeout` bounds each connection. Raises the errors drawn in
    the module docstring."""
    try:
        start = check_url(url)
    except Refused as exc:
        raise _refused(url, exc) from None
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _follow(
                session,
                start,
                policy,
                mime_types=mime_types,
                max_bytes=max_bytes,
                client_timeout=client_timeout,
            )
    except TimeoutError:
        raise TransientError(f"image host {start.host}: no image in time") from None
    except aiohttp.ClientError as exc:
        raise TransientError(
            f"image host {start.host}: download failed ({type(exc).__name__})"
        ) from None


async def fetch_image_or_none(
    session: aiohttp.ClientSession,
    url: str,
    *,
    policy: MediaPolicy,
    mime_types: tuple[str, ...],
    max_bytes: int,
    client_timeout: aiohttp.ClientTimeout,
) -> Image | None:
    """`fetch_image` for channels that post without the picture rather than not at all:
    ``None`` (logged with the reason) instead of an error."""
    try:
        return await fetch_image(
            session,
            url,
            policy=policy,
            mime_types=mime_types,
            max_bytes=max_bytes,
            client_timeout=client_timeout,
        )
    except (PermanentError, TransientError) as exc:
        code = exc.code if isinstance(exc, PermanentError) else "image_transient"
        log.warning("image skipped", extra={"code": code, "reason": exc.message})
        return None


def multipart(fields: Mapping[str, str], files: Mapping[str, Image]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its Content-Type (fields, then files)."""
    boundary = f"----hub{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode("utf-8") + b"\r\n"
    for name, image in files.items():
        filename = _NOT_NAME.sub("_", image.filename)
        out += (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {image.mime}\r\n\r\n"
        ).encode()
        out += image.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
