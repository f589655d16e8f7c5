"""Order webhooks of storefront platforms, read into the hub's :class:`Order`.

Shopify (topics ``orders/create``, ``orders/updated``, ``orders/paid``, ``orders/cancelled``;
the body is the order): the click id comes from the ``landing_site`` query (the first page of
the visit, which carries the tracked link's click-id parameter) or else from the note
attributes, the visitor id from the note attributes, the customer from ``customer.id``. An
order with ``cancelled_at`` is cancelled; refunds show as ``total_price`` minus
``current_total_price`` once ``financial_status`` is ``refunded`` or ``partially_refunded``.

WooCommerce (topics ``order.created``, ``order.updated``; the body is the order): the click
and visitor ids come from the order meta (``hub_cid`` or ``_hub_cid``), the customer from
``customer_id`` (0 is a guest). ``cancelled`` and ``failed`` orders are cancelled; refunds are
the sum of the ``refunds`` entries (negative totals). Times without an offset are GMT.

Line items name products by the platform's product id (matched to ``products.external_id``),
falling back to the SKU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from attribution.conversions.orders import LineItem, Order, Status
from hub.money import is_currency, to_minor

__all__ = ["PayloadError", "shopify_order", "woocommerce_order"]


class PayloadError(ValueError):
    """The platform's body lacks what an order needs; the message names the field."""


def _decimal(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PayloadError(f"{field}: not a decimal amount ({value!r})") from None
    if not amount.is_finite():
        raise PayloadError(f"{field}: not a finite amount")
    return amount


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{field}: missing")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{field}: not an ISO 8601 time ({value!r})") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def _currency(value: Any) -> str:
    code = str(value or "").upper()
    if not is_currency(code):
        raise PayloadError(f"currency: unknown ({value!r})")
    return code


def _track_id(value: Any) -> str | None:
    text = str(value).strip() if value not in (None, "") else ""
    return text if 0 < len(text) <= 64 else None


def _pairs(entries: Any, key: str, value: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(entries, Sequence) and not isinstance(entries, str):
        for entry in entries:
            if isinstance(entry, Mapping) and isinstance(entry.get(key), str):
                out.setdefault(entry[key], entry.get(value))
    return out


def _lines(items: Any, currency: str, amount_of: Any) -> tuple[LineItem, ...]:
    lines: list[LineItem] = []
    if not isinstance(items, Sequence) or isinstance(items, str):
        return ()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        ref = item.get("product_id") or item.get("sku")
        if ref in (None, "", 0):
            continue
        quantity = int(item.get("quantity") or 0)
        amount = max(_decimal(amount_of(item, quantity), f"line_items.{i}"), Decimal(0))
        lines.append(LineItem(None, str(ref)[:255], quantity, to_minor(amount, currency)))
    return tuple(lines)


def _order(
    *,
    order_id: Any,
    total: Decimal,
    refunded: Decimal,
    currency: str,
    at: datetime,
    status: Status,
    click_id: str | None,
    visitor_id: str | None,
    customer: Any,
    lines: tuple[LineItem, ...],
    source: str,
) -> Order:
    if order_id in (None, ""):
        raise PayloadError("id: missing")
    amount_minor = to_minor(max(total, Decimal(0)), currency)
    refunded_minor = min(max(to_minor(refunded, currency), 0), amount_minor)
    if status == "placed" and amount_minor and refunded_minor >= amount_minor:
        status = "refunded"
    return Order(
        order_id=str(order_id)[:255],
        amount_minor=amount_minor,
        refunded_minor=refunded_minor,
        currency=currency,
        occurred_at=at,
        status=status,
        click_id=click_id,
        visitor_id=visitor_id,
        customer_ref=None if customer in (None, "", 0, "0") else str(customer)[:255],
        line_items=lines,
        source=source,
    )


def shopify_order(body: Mapping[str, Any], *, click_param: str, visitor_param: str) -> Order:
    """The order of a Shopify ``orders/*`` webhook."""
    currency = _currency(body.get("currency"))
    total = _decimal(body.get("total_price", "0"), "total_price")
    refunded = Decimal(0)
    if body.get("financial_status") in ("refunded", "partially_refunded"):
        current = body.get("current_total_price")
        refunded = total if current is None else total - _decimal(current, "current_total_price")
    notes = _pairs(body.get("note_attributes"), "name", "value")
    landing = str(body.get("landing_site") or "")
    from_landing = parse_qs(urlsplit(landing).query).get(click_param, [None])[0]
    customer = body.get("customer")
    return _order(
        order_id=body.get("id"),
        total=total,
        refunded=refunded,
        currency=currency,
        at=_time(body.get("processed_at") or body.get("created_at"), "created_at"),
        status="cancelled" if body.get("cancelled_at") else "placed",
        click_id=_track_id(from_landing) or _track_id(notes.get(click_param)),
        visitor_id=_track_id(notes.get(visitor_param)),
        customer=customer.get("id") if isinstance(customer, Mapping) else None,
        lines=_lines(
            body.get("line_items"),
            currency,
            lambda item, q: (
                _decimal(item.get("price", "0"), "price") * q
                - _decimal(item.get("total_discount") or "0", "total_discount")
            ),
        ),
        source="shopify",
    )


def woocommerce_order(body: Mapping[str, Any], *, click_param: str, visitor_param: str) -> Order:
    """The order of a WooCommerce ``order.*`` webhook."""
    currency = _currency(body.get("currency"))
    total = _decimal(body.get("total", "0"), "total")
    refunds = body.get("refunds") or []
    refunded = sum(
        (
            abs(_decimal(r.get("total", "0"), "refunds.total"))
            for r in refunds
            if isinstance(r, Mapping)
        ),
        Decimal(0),
    )
    meta = _pairs(body.get("meta_data"), "key", "value")
    woo_status = str(body.get("status") or "")
    status: Status = "cancelled" if woo_status in ("cancelled", "failed") else "placed"
    if woo_status == "refunded":
        status, refunded = "refunded", max(refunded, total)
    return _order(
        order_id=body.get("id"),
        total=total,
        refunded=refunded,
        currency=currency,
        at=_time(body.get("date_created_gmt") or body.get("date_created"), "date_created_gmt"),
        status=status,
        click_id=_track_id(meta.get(click_param) or meta.get("_" + click_param)),
        visitor_id=_track_id(meta.get(visitor_param) or meta.get("_" + visitor_param)),
        customer=body.get("customer_id"),
        lines=_lines(body.get("line_items"), currency, lambda item, q: item.get("total", "0")),
        source="woocommerce",
    )
