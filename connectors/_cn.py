"""Plumbing shared by the Chinese channels (WeCom, WeChat Official Account, Weibo, Feishu/Lark,
DingTalk); see shared/channels/china.md §0.

- Business errors arrive under HTTP 200 with a code in the body (``errcode``, ``code``,
  ``error_code``): `body_error` classifies by that code first, by the HTTP status only when the
  body has none. A non-JSON answer is transient.
- Bodies are UTF-8 JSON written with ``ensure_ascii=False`` (`dumps`): ``\\uXXXX`` escapes
  inflate size-limited bodies and WeChat refuses them (40033).
- Product images, where the channel wants bytes, are downloaded with `connectors._media`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors._text import fit
from connectors.errors import ConnectorError, TransientError

__all__ = [
    "JSON_HEADERS",
    "body_code",
    "body_error",
    "delivery_id",
    "dumps",
    "fit_bytes",
    "json_size",
    "post_json",
    "seconds_to_beijing_midnight",
    "utf8_len",
]

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
_BEIJING = timezone(timedelta(hours=8))


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


def seconds_to_beijing_midnight(now: datetime | None = None) -> float:
    """Seconds until 00:00 China Standard Time, when daily API quotas reset."""
    local = (now or datetime.now(UTC)).astimezone(_BEIJING)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - local).total_seconds())


def delivery_id(idempotency_key: str | None) -> str:
    """A remote id for webhooks that return none: it only names our delivery."""
    return idempotency_key or uuid.uuid4().hex
