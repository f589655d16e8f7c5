"""Build a product card from the HTML of a product page.

Four sources of product data are read, and merged field by field in this order of trust (issue 3:
"Open Graph, Twitter Card, JSON-LD schema.org Product/Offer and microdata, in that order of
trust"): the first source in `TRUST_ORDER` that has a field wins, and fields it lacks are filled
from the sources after it. Price and currency are kept coherent: the price comes from the most
trusted source that has one, with that source's currency, or else the currency of another source
that states no price or the same price. `<meta name="description">` and `<meta name="keywords">`
fill in a missing description or tags, never a title. The URL is the page's
`<link rel="canonical">`, else the sources' URL, else the final URL of the fetch. Relative URLs
are resolved against `<base href>` or the final URL, and only http(s) URLs are kept.

A page is a product when some source gives it a title and it is not an Open Graph article,
profile, book, music or video page without any product data (JSON-LD or microdata Product, or a
price).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from bs4 import BeautifulSoup, Tag

from hub.catalog._common import Partial, attr, resolve_url
from hub.catalog.errors import NoProductFound
from hub.catalog.jsonld import read_json_ld
from hub.catalog.meta import (
    MetaTags,
    canonical_url,
    collect_meta,
    declares_non_product,
    read_html_fallback,
    read_open_graph,
    read_twitter_card,
)
from hub.catalog.microdata import read_microdata

__all__ = ["TRUST_ORDER", "ImportedProduct", "extract_product"]

TRUST_ORDER: tuple[str, ...] = ("opengraph", "twitter", "jsonld", "microdata")
HTML_FALLBACK = "meta"

MAX_TITLE_CHARS = 500
MAX_DESCRIPTION_CHARS = 10_000

# bs4 warns when it is handed XML; an XHTML prolog is not a reason to.
_XML_DECLARATION = re.compile(r"<\?xml[^>]*>", re.IGNORECASE)

_Reader = Callable[[BeautifulSoup, MetaTags, str], Partial | None]
_READERS: dict[str, _Reader] = {
    "opengraph": lambda soup, meta, base: read_open_graph(meta, base),
    "twitter": lambda soup, meta, base: read_twitter_card(meta, base),
    "jsonld": lambda soup, meta, base: read_json_ld(soup, base),
    "microdata": lambda soup, meta, base: read_microdata(soup, base),
}


@dataclass(frozen=True, slots=True)
class ImportedProduct:
    """A product card read from a page.

    `description` is "" when no source has one. `price` and `currency` are read independently:
    either may be None. `url` is the canonical URL, else the final URL of the fetch. `sources`
    names the sources that gave at least one field, most trusted first (`TRUST_ORDER`, then
    "meta" for the plain HTML fill-ins).
    """

    title: str
    description: str
    price: Decimal | None
    currency: str | None
    image_url: str | None
    url: str
    tags: tuple[str, ...]
    sources: tuple[str, ...]


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0] or text[: max_chars - 1]
    return cut.rstrip() + "…"


def _base_url(soup: BeautifulSoup, page_url: str) -> str:
    base = soup.find("base", href=True)
    if isinstance(base, Tag):
        resolved = resolve_url(page_url, attr(base, "href"))
        if resolved:
            return resolved
    return page_url


class _Merger:
    def __init__(self, ranked: list[tuple[str, Partial]]) -> None:
        self.ranked = ranked
        self.used: list[str] = []

    def _use(self, name: str) -> None:
        if name not in self.used:
            self.used.append(name)

    def first(self, field: Callable[[Partial], str | None]) -> str | None:
        for name, partial in self.ranked:
            value = field(partial)
            if value:
                self._use(name)
                return value
        return None

    def tags(self) -> tuple[str, ...]:
        for name, partial in self.ranked:
            if partial.tags:
                self._use(name)
                return partial.tags
        return ()

    def price(self) -> tuple[Decimal | None, str | None]:
        for name, partial in self.ranked:
            if partial.price is None:
                continue
            self._use(name)
            if partial.currency:
                return partial.price, partial.currency
            for other_name, other in self.ranked:
                if other.currency and other.price in (None, partial.price):
                    self._use(other_name)
                    return partial.price, other.currency
            return partial.price, None
        return None, None


def extract_product(html: str, page_url: str) -> ImportedProduct:
    """Read the product on an HTML page; `page_url` is the final URL it was fetched from.

    Raises `NoProductFound` when no source gives a title, or the page says it is an article
    (or another non-product kind) and has no product data.
    """
    no_product = NoProductFound(
        "no_product",
        "The page has no product data (Open Graph, Twitter Card, JSON-LD or microdata)",
        details={"url": page_url},
    )
    if "<" not in html:
        raise no_product
    soup = BeautifulSoup(_XML_DECLARATION.sub("", html), "html.parser")
    base = _base_url(soup, page_url)
    meta = collect_meta(soup)
    found = {name: _READERS[name](soup, meta, base) for name in TRUST_ORDER}
    ranked = [(name, partial) for name, partial in found.items() if partial is not None]
    has_structured = found["jsonld"] is not None or found["microdata"] is not None
    has_price = any(partial.price is not None for _, partial in ranked)
    if declares_non_product(meta) and not (has_structured or has_price):
        raise no_product

    merger = _Merger(ranked)
    title = merger.first(lambda p: p.title)
    if title is None:
        raise no_product
    description = merger.first(lambda p: p.description)
    price, currency = merger.price()
    image_url = merger.first(lambda p: p.image_url)
    tags = merger.tags()
    url = canonical_url(soup, base) or merger.first(lambda p: p.url) or page_url

    fallback = read_html_fallback(meta)
    if fallback is not None and (description is None and fallback.description):
        description = fallback.description
        merger.used.append(HTML_FALLBACK)
    if fallback is not None and (not tags and fallback.tags):
        tags = fallback.tags
        if HTML_FALLBACK not in merger.used:
            merger.used.append(HTML_FALLBACK)

    order = [*TRUST_ORDER, HTML_FALLBACK]
    return ImportedProduct(
        title=_cut(title, MAX_TITLE_CHARS),
        description=_cut(description or "", MAX_DESCRIPTION_CHARS),
        price=price,
        currency=currency,
        image_url=image_url,
        url=url,
        tags=tags,
        sources=tuple(sorted(merger.used, key=order.index)),
    )
