"""URL rules shared by the hub: what counts as an origin, and where links may lead."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["UrlError", "is_within", "origin_of"]


class UrlError(ValueError):
    """A URL is not an absolute http(s) URL with a host."""


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        raise UrlError(f"expected an absolute http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise UrlError("URLs with credentials are not allowed")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise UrlError(f"invalid port in {url!r}") from None
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def is_within(url: str, origins: list[str] | tuple[str, ...]) -> bool:
    """True when ``url`` leads to one of the registered ``origins``."""
    try:
        return origin_of(url) in set(origins)
    except UrlError:
        return False
