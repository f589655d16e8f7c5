"""Errors raised while importing a product page.

The hierarchy, drawn as in httpx::

    ProductImportError            every failure of an import; has `code`, `message`, `details`
    ├── FetchRefused              the hub will not fetch this URL at all (checked before any
    │                             connection): a bad URL, a scheme other than http/https, or an
    │                             address that is private, loopback, link-local, multicast,
    │                             reserved or unspecified while `allow_private` is off
    ├── FetchFailed               the fetch was tried and did not give a usable page: an HTTP
    │                             error status, a timeout, a body over the size limit, too many
    │                             redirects or a redirect loop, a body that is not HTML, a DNS,
    │                             connection or TLS failure
    └── NoProductFound            the page was fetched but holds no product data with a title

`code` is a short machine-readable string from the class's `codes` table (the API puts it in
`{"error": {"code": ...}}`); `message` is for people; `details` holds extra facts such as the
HTTP status or the refused address, and never anything secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

__all__ = ["FetchFailed", "FetchRefused", "NoProductFound", "ProductImportError"]


class ProductImportError(Exception):
    """Base class of every product import failure."""

    codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, code: str, message: str, *, details: Mapping[str, object] | None = None
    ) -> None:
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} has no error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: Mapping[str, object] = MappingProxyType(dict(details or {}))

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class FetchRefused(ProductImportError):
    """The URL is not one the hub may fetch; nothing was sent."""

    codes: ClassVar[frozenset[str]] = frozenset(
        {"invalid_url", "scheme_not_allowed", "address_not_allowed"}
    )


class FetchFailed(ProductImportError):
    """The page could not be fetched within the limits."""

    codes: ClassVar[frozenset[str]] = frozenset(
        {
            "http_status",
            "timeout",
            "too_large",
            "too_many_redirects",
            "redirect_loop",
            "bad_redirect",
            "not_html",
            "dns_failed",
            "connection_failed",
            "tls_failed",
        }
    )


class NoProductFound(ProductImportError):
    """The page has no product data with a title."""

    codes: ClassVar[frozenset[str]] = frozenset({"no_product"})
