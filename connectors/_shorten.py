"""An optional external URL shortener (pyshorteners) for a channel account that wants one.

The hub's own tracked links stay the default; an account may ask for its tracked link to be
wrapped once more by a public service (TinyURL, is.gd, da.gd, Bitly …). pyshorteners is
synchronous (``requests``), so the call runs in a worker thread, bounded by `timeout_s` both
inside ``requests`` (so the thread ends) and around the thread.

Failures are connector errors: a service that cannot be reached, times out or answers 5xx is
`TransientError` ("shortener unreachable: …"); a service that refuses the URL, an unknown
service or an answer that is not an http(s) URL is `PermanentError`.

`options` are passed to the pyshorteners service (``api_key`` for Bitly, ``api_url`` to point a
service at another endpoint — self-hosted instances and tests). They may hold secrets: they
never appear in errors.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import pyshorteners
from pyshorteners.exceptions import (
    BadAPIResponseException,
    BadURLException,
    ShorteningErrorException,
)

from connectors.errors import PermanentError, TransientError

__all__ = ["services", "shorten"]

_SHORT = re.compile(r"^https?://\S{1,2000}$")
_MAX_TIMEOUT_S = 60.0


def services() -> tuple[str, ...]:
    """The service names pyshorteners offers (``tinyurl``, ``isgd``, ``dagd`` …)."""
    return tuple(sorted(pyshorteners.Shortener().available_shorteners))


def _shorten_blocking(url: str, service: str, options: Mapping[str, Any], timeout_s: float) -> str:
    factory = pyshorteners.Shortener(**dict(options))
    client = getattr(factory, service)
    client.timeout = timeout_s  # Shortener() would round it to whole seconds
    return str(client.short(url))


async def shorten(
    url: str,
    service: str,
    options: Mapping[str, Any],
    session: aiohttp.ClientSession | None = None,
    *,
    timeout_s: float = 5.0,
) -> str:
    """`url` shortened by pyshorteners' `service`, within `timeout_s` seconds.

    `session` is accepted for symmetry with the connectors and is not used: pyshorteners
    makes its own ``requests`` call.
    """
    del session
    if service not in services():
        raise PermanentError("unknown_shortener", f"unknown shortener {service!r}")
    if not 0 < timeout_s <= _MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s must be in (0, {_MAX_TIMEOUT_S}]")
    try:
        short = await asyncio.wait_for(
            asyncio.to_thread(_shorten_blocking, url, service, options, timeout_s),
            timeout=timeout_s + 1.0,
        )
    except TimeoutError:
        raise TransientError(f"shortener unreachable: {service} gave no answer in time") from None
    except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
        raise TransientError(f"shortener unreachable: {service} ({type(exc).__name__})") from None
    except BadURLException:
        raise PermanentError("shortener_bad_url", f"{service} refused the URL") from None
    except (ShorteningErrorException, BadAPIResponseException) as exc:
        detail = str(exc)[:200]
        if re.search(r"\b5\d\d\b|unavailable|temporar", detail, re.I):
            raise TransientError(f"shortener unreachable: {service} failed: {detail}") from None
        raise PermanentError("shortener_refused", f"{service} refused: {detail}") from None
    short = short.strip()
    if not _SHORT.match(short):
        raise PermanentError("shortener_bad_answer", f"{service} answered no URL")
    return short
