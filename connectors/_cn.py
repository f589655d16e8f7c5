"""Plumbing shared by the Chinese channels (WeCom, WeChat Official Account, Weibo, Feishu/Lark,
DingTalk); see shared/channels/china.md §0.

- Business errors arrive under HTTP 200 with a code in the body (``errcode``, ``code``,
  ``error_code``): `body_error` classifies by that code first, by the HTTP status only when the
  body has none. A non-JSON answer is transient.
- Bodies are UTF-8 JSON written with ``ensure_ascii=False`` (`dumps`): ``\\uXXXX`` escapes
  inflate size-limited bodies and WeChat refuses them (40033).
- Product images are fetched by the connector where the channel wants bytes (`fetch_image`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors._text import fit
from connectors.errors import ConnectorError, PermanentError, TransientError

__all__ = [
    "JSON_HEADERS",
    "Image",
    "body_code",
    "body_error",
    "delivery_id",
    "dumps",
    "fetch_image",
    "fit_bytes",
    "json_size",
    "multipart",
    "post_json",
    "seconds_to_beijing_midnight",
    "utf8_len",
]

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
_BEIJING = timezone(timedelta(hours=8))
_CHUNK = 64 * 1024


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_bytes(text: str, budget: int) -> str:
    """`text` within `budget` UTF-8 bytes, cut at a word or grapheme boundary; when a single
    grapheme is larger than the budget, at a code point boundary."""
    out = fit(text, budget, utf8_len)
    if out or not text:
        return out
    return text.encode()[: budget - 3].decode("utf-8", errors="ignore") + "…"


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON without ``\\uXXXX`` escapes of non-ASCII characters."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_size(value: Any) -> int:
    """Bytes `value` takes in a `dumps` body (a string counts with its quotes and escapes)."""
    return len(dumps(value))


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: Any,
    *,
    client_timeout: aiohttp.ClientTimeout,
) -> Reply:
    return await send(
        session, "POST", url, data=dumps(body), headers=JSON_HEADERS, client_timeout=client_timeout
    )


def body_code(body: Any, *names: str) -> int | None:
    """The first of `names` in a JSON object body as an int (codes appear as strings too)."""
    if not isinstance(body, dict):
        return None
    for name in names:
        value = body.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
    return None


def body_error(
    table: ErrorTable,
    reply: Reply,
    *,
    code: int | str | None,
    message: str = "",
    retry_after_s: Mapping[str, float] | None = None,
) -> ConnectorError:
    """The error for a failed reply whose body code is `code` (``None`` when the body had
    none). Codes are looked up as strings; rate-limit codes get their wait from
    `retry_after_s` (default 60 s)."""
    if code is None:
        if reply.json() is None and reply.status < 400:
            return TransientError(f"http_{reply.status}: answer is not JSON")
        hint = parse_retry_after(reply.header("Retry-After"))
        return classify(table, status=reply.status, message=message, retry_after_s=hint or 60.0)
    key = str(code)
    wait = (retry_after_s or {}).get(key, 60.0)
    return classify(table, status=reply.status, code=key, message=message, retry_after_s=wait)


def multipart(fields: Mapping[str, str], files: Mapping[str, Image]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its Content-Type (fields, then files)."""
    boundary = f"----hub{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode("utf-8") + b"\r\n"
    for name, image in files.items():
        filename = image.filename.replace('"', "")
        out += (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {image.content_type}\r\n\r\n"
        ).encode()
        out += image.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def seconds_to_beijing_midnight(now: datetime | None = None) -> float:
    """Seconds until 00:00 China Standard Time, when daily API quotas reset."""
    local = (now or datetime.now(UTC)).astimezone(_BEIJING)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - local).total_seconds())


def delivery_id(idempotency_key: str | None) -> str:
    """A remote id for webhooks that return none: it only names our delivery."""
    return idempotency_key or uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Image:
    """A product image downloaded for upload."""

    data: bytes
    content_type: str
    filename: str

    def __repr__(self) -> str:
        return f"Image({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


async def fetch_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    client_timeout: aiohttp.ClientTimeout,
    max_bytes: int,
    types: tuple[str, ...],
) -> Image:
    """Download a product image. Refusals by the image host and images the channel cannot
    take are PermanentError (``image_unavailable``, ``image_too_large``, ``image_type``);
    network failures and 5xx are TransientError (a GET is safe to repeat)."""
    host = urlsplit(url).hostname or "?"
    try:
        async with session.get(url, timeout=client_timeout) as response:
            if response.status >= 500:
                raise TransientError(f"image host {host}: http_{response.status}")
            if response.status != 200:
                raise PermanentError("image_unavailable", f"image host {host}: {response.status}")
            content_type = response.content_type.lower()
            if content_type not in types:
                raise PermanentError("image_type", f"image is {content_type}")
            data = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise PermanentError("image_too_large", f"image over {max_bytes} bytes")
    except (aiohttp.ClientError, TimeoutError):
        raise TransientError(f"image host {host}: download failed") from None
    name = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
    return Image(bytes(data), content_type, name)
