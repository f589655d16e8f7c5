"""Product data from JSON-LD: schema.org Product, ProductGroup and their offers.

Handles several `<script type="application/ld+json">` blocks, top-level arrays, `@graph`,
nodes referenced by `@id`, `@type` given as a list or as a full IRI, ProductGroup with
`hasVariant`, `offers` as one Offer, a list or an AggregateOffer (`lowPrice`), a
`priceSpecification`, and prices written as numbers or strings. When several offers carry a
price, the lowest in the first currency seen is taken (the "from" price a card shows).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
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
from hub.catalog.price import parse_currency, parse_price

__all__ = ["pick_price", "read_json_ld"]

_PRODUCT_TYPES = frozenset(
    {"Product", "ProductGroup", "IndividualProduct", "ProductModel", "SomeProducts"}
)
# Links from a product to other products: never where the page's own product is found.
_SKIP_KEYS = frozenset(
    {
        "isRelatedTo",
        "isSimilarTo",
        "isAccessoryOrSparePartFor",
        "isConsumableFor",
        "hasVariant",
        "isVariantOf",
        "offers",
        "review",
        "itemListElement",
    }
)
_WRAPPERS = re.compile(r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)\s*$")
_MAX_NODES = 5000

Node = dict[str, object]


def _load_blocks(soup: BeautifulSoup) -> list[object]:
    blocks: list[object] = []
    for script in soup.find_all("script"):
        if not isinstance(script, Tag):
            continue
        kind = (attr(script, "type") or "").split(";")[0].strip().lower()
        if kind != "application/ld+json":
            continue
        text = _WRAPPERS.sub("", script.get_text())
        try:
            blocks.append(json.loads(text, strict=False))
        except ValueError:
            continue  # a broken block must not hide the others
    return blocks


def _walk(roots: list[object], *, skip: frozenset[str] = frozenset()) -> Iterator[Node]:
    """Every dict under `roots`, breadth first, not descending into `skip` keys."""
    queue: deque[object] = deque(roots)
    seen = 0
    while queue and seen < _MAX_NODES:
        item = queue.popleft()
        seen += 1
        if isinstance(item, list):
            queue.extend(item)
        elif isinstance(item, dict):
            yield item
            queue.extend(v for k, v in item.items() if k not in skip)


def _types(node: Node) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {re.split(r"[/#:]", v)[-1] for v in values if isinstance(v, str)}


class _Graph:
    def __init__(self, blocks: list[object]) -> None:
        self.blocks = blocks
        self.by_id: dict[str, Node] = {}
        for node in _walk(blocks):
            node_id = node.get("@id")
            if isinstance(node_id, str) and len(node) > 1:
                self.by_id.setdefault(node_id, node)

    def nodes(self, value: object) -> list[Node]:
        """`value` as a list of dicts, `{"@id": ...}` references replaced by their nodes."""
        items = value if isinstance(value, list) else [value]
        found: list[Node] = []
        for item in items:
            if isinstance(item, dict):
                ref = item.get("@id")
                if len(item) == 1 and isinstance(ref, str):
                    item = self.by_id.get(ref, item)
                found.append(item)
        return found

    def first_product(self) -> Node | None:
        """The first product with a name, else the first product."""
        unnamed: Node | None = None
        for node in _walk(self.blocks, skip=_SKIP_KEYS):
            if _types(node) & _PRODUCT_TYPES:
                if _text(node.get("name")):
                    return node
                unnamed = unnamed or node
        return unnamed


def _text(value: object) -> str | None:
    if isinstance(value, list):
        return next((t for t in map(_text, value) if t), None)
    if isinstance(value, dict):
        return _text(value.get("@value") or value.get("name"))
    return clean_text(value, unescape=True)


def _image(graph: _Graph, value: object, base: str) -> str | None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            url = resolve_url(base, item)
        else:
            nodes = graph.nodes(item)
            node = nodes[0] if nodes else {}
            url = resolve_url(base, node.get("url") or node.get("contentUrl") or node.get("@id"))
        if url:
            return url
    return None


def _scalar(value: object) -> object:
    return value[0] if isinstance(value, list) and value else value


def _offer_prices(graph: _Graph, value: object, depth: int = 0) -> list[tuple[Decimal, str | None]]:
    prices: list[tuple[Decimal, str | None]] = []
    for offer in graph.nodes(value):
        raw_currency = _scalar(offer.get("priceCurrency"))
        currency = parse_currency(raw_currency)
        if "AggregateOffer" in _types(offer):
            low = parse_price(_scalar(offer.get("lowPrice")))
            if low is not None:
                prices.append((low, currency))
                continue
        raw_price = _scalar(offer.get("price"))
        price = parse_price(raw_price)
        if price is not None:
            prices.append((price, currency or parse_currency(raw_price)))
            continue
        for spec in graph.nodes(offer.get("priceSpecification")):
            spec_price = parse_price(_scalar(spec.get("price")))
            if spec_price is not None:
                spec_currency = parse_currency(_scalar(spec.get("priceCurrency")))
                prices.append((spec_price, spec_currency or currency))
                break
        else:
            if depth < 3 and "offers" in offer:
                prices.extend(_offer_prices(graph, offer["offers"], depth + 1))
    return prices


def pick_price(prices: list[tuple[Decimal, str | None]]) -> tuple[Decimal | None, str | None]:
    """The lowest price in the first currency named (prices without a currency count in it)."""
    if not prices:
        return None, None
    currency = next((c for _, c in prices if c), None)
    same = [p for p, c in prices if c in (None, currency)]
    return min(same), currency


def _tags(product: Node) -> tuple[str, ...]:
    def texts(key: str) -> list[str]:
        value = product.get(key)
        items = value if isinstance(value, list) else [value]
        return [t for t in map(_text, items) if t]

    return combine_tags(split_tags(texts("keywords"), ","), split_tags(texts("category"), ">"))


def read_json_ld(soup: BeautifulSoup, base: str) -> Partial | None:
    graph = _Graph(_load_blocks(soup))
    product = graph.first_product()
    if product is None:
        return None
    prices = _offer_prices(graph, product.get("offers"))
    if not prices and "ProductGroup" in _types(product):
        for variant in graph.nodes(product.get("hasVariant")):
            prices.extend(_offer_prices(graph, variant.get("offers")))
    price, currency = pick_price(prices)
    image = _image(graph, product.get("image"), base)
    if image is None and "ProductGroup" in _types(product):
        image = next(
            (
                found
                for v in graph.nodes(product.get("hasVariant"))
                if (found := _image(graph, v.get("image"), base))
            ),
            None,
        )
    return Partial(
        title=_text(product.get("name")),
        description=_text(product.get("description")),
        price=price,
        currency=currency,
        image_url=image,
        url=resolve_url(base, _scalar(product.get("url"))),
        tags=_tags(product),
    )
