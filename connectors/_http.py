"""Shared HTTP plumbing for connectors: one request helper that turns network failures into
error kinds, Retry-After parsing, and table-driven classification of error replies.

Each channel module declares a table at its top, ``ERRORS: Mapping[int | str, ErrorKind]``:
``int`` keys are HTTP statuses, ``str`` keys are the channel's own error codes (normalised with
`code_of`). A code entry wins over a status entry; what neither covers falls back to the
defaults: 429 → rate limited, 401 → auth expired, 408 and 5xx → transient, other 4xx →
permanent.

Timeouts: the connect phase is bounded by ``sock_connect`` and the answer by ``sock_read``, so a
failure to connect (nothing sent) is a `TransientError` while a timeout or a dropped connection
after the request went out is `OutcomeUnknown`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from connectors.errors import (
    AuthExpired,
    ConnectorError,
    ErrorKind,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)

__all__ = ["ErrorTable", "Reply", "classify", "code_of", "parse_retry_after", "send", "timeout"]

ErrorTable = Mapping[int | str, ErrorKind]
_NON_WORD = re.compile(r"[^a-z0-9]+")
_MAX_BODY_BYTES = 1 << 20
_QUOTA_DEFAULT_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Reply:
    """A channel's HTTP answer, fully read."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


def timeout(connect_s: float, read_s: float) -> aiohttp.ClientTimeout:
    """A timeout that keeps 'could not connect' apart from 'sent, no answer'."""
    return aiohttp.ClientTimeout(total=None, sock_connect=connect_s, sock_read=read_s)


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    client_timeout: aiohttp.ClientTimeout,
    json_body: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    retry_safe: bool = False,
) -> Reply:
    """Make one request and read the whole answer; never raises aiohttp errors.

    `retry_safe` marks requests carrying an idempotency key (reported on `OutcomeUnknown`).
    Error messages name the method and host only, and causes are dropped: URLs may carry
    tokens, and aiohttp errors print them.
    """
    where = f"{method} {_host(url)}"
    try:
        async with session.request(
            method,
            url,
            json=json_body,
            data=data,
            headers=dict(headers or {}),
            timeout=client_timeout,
            allow_redirects=False,
        ) as response:
            body = await response.content.read(_MAX_BODY_BYTES)
            return Reply(response.status, dict(response.headers), body)
    except aiohttp.ConnectionTimeoutError:
        raise TransientError(f"{where}: connect timeout") from None
    except aiohttp.ClientConnectorError:
        raise TransientError(f"{where}: cannot connect") from None
    except TimeoutError:
        raise OutcomeUnknown(f"{where}: no answer in time", retry_safe=retry_safe) from None
    except aiohttp.ClientError as exc:
        raise OutcomeUnknown(
            f"{where}: connection lost ({type(exc).__name__})", retry_safe=retry_safe
        ) from None


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); ``None`` if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def code_of(text: str) -> str:
    """Normalise a channel's error description to a table key: ``'Bad Request: chat not
    found'`` → ``'bad_request_chat_not_found'``."""
    return _NON_WORD.sub("_", text.lower()).strip("_")


def _default_kind(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status == 401:
        return ErrorKind.AUTH_EXPIRED
    if status == 408 or status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def classify(
    table: ErrorTable,
    *,
    status: int,
    code: str | None = None,
    message: str = "",
    retry_after_s: float | None = None,
    retry_safe: bool = False,
) -> ConnectorError:
    """The error for a failed reply: `code` looked up first, then `status`, then defaults."""
    kind = table.get(code) if code else None
    if kind is None:
        kind = table.get(status, _default_kind(status))
    name = code or f"http_{status}"
    text = message or name
    if kind is ErrorKind.RATE_LIMITED:
        return RateLimited(retry_after_s or 0.0, text)
    if kind is ErrorKind.QUOTA_EXHAUSTED:  # without the channel's hint: a daily quota
        return QuotaExhausted(retry_after_s or _QUOTA_DEFAULT_S, text)
    if kind is ErrorKind.TRANSIENT:
        return TransientError(f"{name}: {text}" if text != name else name)
    if kind is ErrorKind.OUTCOME_UNKNOWN:
        return OutcomeUnknown(text, retry_safe=retry_safe)
    if kind is ErrorKind.AUTH_EXPIRED:
        return AuthExpired(text)
    if kind is ErrorKind.MISCONFIGURED:
        return Misconfigured(name, text)
    return PermanentError(name, text)
