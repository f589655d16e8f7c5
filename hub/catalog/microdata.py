"""Product data from HTML microdata (`itemscope itemtype="https://schema.org/Product"`).

Properties are read as the HTML standard says (`content` first, then `src`, `href`, `data`,
`value`, `datetime` by element, else the text), and belong to the nearest enclosing
`itemscope`; nested items (`offers`, `image` as ImageObject, `brand`) become nested dicts.
"""

from __future__ import annotations

import re
from decimal import Decimal

from bs4 import BeautifulSoup, Tag

from hub.catalog._common import (
    Partial,
    attr,
    clean_text,
    combine_tags,
    resolve_url,
    split_tags,
)
from hub.catalog.jsonld import pick_price
from hub.catalog.price import parse_currency, parse_money, parse_price

__all__ = ["read_microdata"]

_PRODUCT_TYPES = frozenset({"Product", "ProductGroup", "IndividualProduct", "ProductModel"})
_SRC_TAGS = frozenset({"audio", "embed", "iframe", "img", "source", "track", "video"})
_HREF_TAGS = frozenset({"a", "area", "link"})

Item = dict[str, list[object]]  # property name -> values (str, or a nested Item)


def _item_types(tag: Tag) -> set[str]:
    return {re.split(r"[/#]", t)[-1] for t in (attr(tag, "itemtype") or "").split()}


def _value(tag: Tag) -> str:
    content = attr(tag, "content")
    if content is not None:
        return content
    name = tag.name.lower()
    key = (
        "src"
        if name in _SRC_TAGS
        else "href"
        if name in _HREF_TAGS
        else "data"
        if name == "object"
        else "value"
        if name in ("data", "meter")
        else "datetime"
        if name == "time"
        else None
    )
    if key is not None:
        found = attr(tag, key)
        if found is not None:
            return found
    return tag.get_text(" ", strip=True)


def _item(scope: Tag) -> Item:
    """The properties of one item; iterative, so deeply nested broken markup cannot recurse."""
    props: Item = {}
    stack = [c for c in reversed(scope.contents) if isinstance(c, Tag)]
    while stack:
        tag = stack.pop()
        names = (attr(tag, "itemprop") or "").split()
        nested = tag.has_attr("itemscope")
        if names:
            value: object = _item(tag) if nested else _value(tag)
            for name in names:
                props.setdefault(re.split(r"[/#]", name)[-1], []).append(value)
        if not nested:
            stack.extend(c for c in reversed(tag.contents) if isinstance(c, Tag))
    return props


def _first_text(item: Item, key: str) -> str | None:
    for value in item.get(key, ()):
        text = clean_text(value)
        if text:
            return text
    return None


def _image(item: Item, base: str) -> str | None:
    for value in item.get("image", ()):
        if isinstance(value, dict):
            value = _first_text(value, "url") or _first_text(value, "contentUrl")
        url = resolve_url(base, value)
        if url:
            return url
    return None


def _prices(item: Item, depth: int = 0) -> list[tuple[Decimal, str | None]]:
    prices: list[tuple[Decimal, str | None]] = []
    currency = parse_currency(_first_text(item, "priceCurrency"))
    low = parse_price(_first_text(item, "lowPrice"))
    price, written_currency = parse_money(_first_text(item, "price"))
    if low is not None:
        prices.append((low, currency or written_currency))
    elif price is not None:
        prices.append((price, currency or written_currency))
    if depth < 3:
        for key in ("offers", "priceSpecification"):
            for value in item.get(key, ()):
                if isinstance(value, dict):
                    prices.extend(_prices(value, depth + 1))
    return prices


def read_microdata(soup: BeautifulSoup, base: str) -> Partial | None:
    scope = next(
        (
            tag
            for tag in soup.find_all(itemscope=True)
            if isinstance(tag, Tag) and _item_types(tag) & _PRODUCT_TYPES
        ),
        None,
    )
    if scope is None:
        return None
    item = _item(scope)
    price, currency = pick_price(_prices(item))
    return Partial(
        title=_first_text(item, "name"),
        description=_first_text(item, "description"),
        price=price,
        currency=currency,
        image_url=_image(item, base),
        url=resolve_url(base, _first_text(item, "url")),
        tags=combine_tags(
            split_tags([v for v in item.get("keywords", ()) if isinstance(v, str)], ","),
            split_tags([v for v in item.get("category", ()) if isinstance(v, str)], ">"),
        ),
    )
