"""Product data from `<meta>` tags: Open Graph, Twitter Card, and the plain HTML fallbacks
(`<meta name="description">`, `<meta name="keywords">`, `<link rel="canonical">`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bs4 import BeautifulSoup, Tag

from hub.catalog._common import (
    Partial,
    attr,
    clean_text,
    combine_tags,
    resolve_url,
    split_tags,
)
from hub.catalog.price import parse_currency, parse_money, parse_price

__all__ = [
    "MetaTags",
    "canonical_url",
    "collect_meta",
    "declares_non_product",
    "read_html_fallback",
    "read_open_graph",
    "read_twitter_card",
]

MetaTags = Mapping[str, Sequence[str]]

# og:type values that say the page is about something other than a product.
_NON_PRODUCT_OG_TYPES = re.compile(r"^(article|book|profile|music\..*|video\..*)$")
# twitter:labelN values that mean twitter:dataN is a price.
_PRICE_LABEL = re.compile(
    r"price|preis|prix|precio|prezzo|preço|prijs|cena|цена|价格|價格|価格|가격", re.IGNORECASE
)


def collect_meta(soup: BeautifulSoup) -> dict[str, list[str]]:
    """`<meta property|name=... content=...>` by lower-case key, in document order."""
    found: dict[str, list[str]] = {}
    for tag in soup.find_all("meta"):
        if not isinstance(tag, Tag):
            continue
        content = attr(tag, "content")
        key = attr(tag, "property") or attr(tag, "name")
        if content is None or not key:
            continue
        found.setdefault(key.strip().lower(), []).append(content)
    return found


def _first(meta: MetaTags, *keys: str) -> str | None:
    for key in keys:
        for value in meta.get(key, ()):
            text = clean_text(value)
            if text:
                return text
    return None


def declares_non_product(meta: MetaTags) -> bool:
    """True when og:type names a non-product kind of page (an article, a profile, ...)."""
    og_type = _first(meta, "og:type")
    return og_type is not None and bool(_NON_PRODUCT_OG_TYPES.match(og_type.lower()))


def read_open_graph(meta: MetaTags, base: str) -> Partial | None:
    amount = _first(meta, "product:price:amount", "og:price:amount")
    partial = Partial(
        title=_first(meta, "og:title"),
        description=_first(meta, "og:description"),
        price=parse_price(amount),
        currency=parse_currency(_first(meta, "product:price:currency", "og:price:currency")),
        image_url=resolve_url(
            base, _first(meta, "og:image:secure_url", "og:image:url", "og:image")
        ),
        url=resolve_url(base, _first(meta, "og:url")),
        tags=combine_tags(
            split_tags(meta.get("product:category", ()), ">"), meta.get("product:tag", ())
        ),
    )
    return None if partial.is_empty() else partial


def _twitter_price(meta: MetaTags) -> tuple[str | None, str | None]:
    for n in ("1", "2"):
        data = _first(meta, f"twitter:data{n}")
        label = _first(meta, f"twitter:label{n}")
        if data is None:
            continue
        price, currency = parse_money(data)
        if price is None:
            continue
        if (label and _PRICE_LABEL.search(label)) or (label is None and currency is not None):
            return data, currency
    return None, None


def read_twitter_card(meta: MetaTags, base: str) -> Partial | None:
    data, currency = _twitter_price(meta)
    partial = Partial(
        title=_first(meta, "twitter:title"),
        description=_first(meta, "twitter:description"),
        price=parse_price(data),
        currency=currency,
        image_url=resolve_url(base, _first(meta, "twitter:image", "twitter:image:src")),
    )
    return None if partial.is_empty() else partial


def canonical_url(soup: BeautifulSoup, base: str) -> str | None:
    for link in soup.find_all("link"):
        if isinstance(link, Tag) and "canonical" in (attr(link, "rel") or "").lower().split():
            return resolve_url(base, attr(link, "href"))
    return None


def read_html_fallback(meta: MetaTags) -> Partial | None:
    """Plain `<meta name="description">` and `<meta name="keywords">`: fill-ins, never a title."""
    partial = Partial(
        description=_first(meta, "description"),
        tags=split_tags(meta.get("keywords", ())),
    )
    return None if partial.is_empty() else partial
