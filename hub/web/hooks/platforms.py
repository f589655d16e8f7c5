"""Order webhooks of storefront platforms, each checked with the platform's own signature.

- ``POST /hooks/v1/shopify/orders?merchant=<id>`` — Shopify ``orders/*`` topics
  (``X-Shopify-Topic``), signed in ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw
  body with the app's secret). ``X-Shopify-Webhook-Id`` is logged; redelivery is harmless
  because recording an order is idempotent by order id and only moves its state forward.
- ``POST /hooks/v1/woocommerce/orders?merchant=<id>`` — WooCommerce ``order.created`` and
  ``order.updated`` (``X-WC-Webhook-Topic``), signed in ``X-WC-Webhook-Signature`` (base64
  HMAC-SHA256 of the raw body with the webhook's secret). WooCommerce's unsigned ping when a
  webhook is saved (a form body ``webhook_id=…``) gets 200 and changes nothing.

The secrets are stored per merchant and platform (``attribution.conversions.keys``). Topics
that carry no order are acknowledged with 200 ``{"ignored": topic}`` so the platform does not
retry them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import structlog
from aiohttp import web

from attribution.conversions import PayloadError, shopify_order, woocommerce_order
from attribution.conversions.orders import Order
from hub.web.errors import ApiError, ErrorCode
from hub.web.hooks._signed import parse_json, platform_signed
from hub.web.hooks.conversions import record
from hub.web.keys import SETTINGS

__all__ = ["routes"]

routes = web.RouteTableDef()
log = structlog.get_logger("hub.hooks")

_SHOPIFY_TOPICS = {
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
}
_WOO_TOPICS = {"order.created", "order.updated", "order.restored"}


def _object(body: bytes) -> Mapping[str, object]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise ApiError(ErrorCode.VALIDATION_FAILED, "expected an order object")
    return data


def _invalid(exc: PayloadError) -> ApiError:
    return ApiError(ErrorCode.VALIDATION_FAILED, "order is invalid", {"reason": str(exc)})


async def _receive(
    request: web.Request,
    platform: Literal["shopify", "woocommerce"],
    *,
    signature_header: str,
    topic: tuple[str, str],
    delivery_header: str,
    topics: set[str],
    parse: Callable[..., Order],
) -> web.Response:
    """Verify, log, filter by topic, parse and record one platform order webhook."""
    merchant_id, body = await platform_signed(request, platform, signature_header)
    name = request.headers.get(topic[0], topic[1])
    log.info(
        f"{platform}_hook",
        merchant_id=merchant_id,
        topic=name,
        delivery_id=request.headers.get(delivery_header),
    )
    if name not in topics:
        return web.json_response({"ignored": name})
    settings = request.config_dict[SETTINGS]
    try:
        order = parse(
            _object(body),
            click_param=settings.links.click_id_param,
            visitor_param=settings.attribution.visitor_id_param,
        )
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await record(request, merchant_id, order)


@routes.post("/shopify/orders")
async def shopify(request: web.Request) -> web.Response:
    return await _receive(
        request,
        "shopify",
        signature_header="X-Shopify-Hmac-Sha256",
        topic=("X-Shopify-Topic", "orders/create"),
        delivery_header="X-Shopify-Webhook-Id",
        topics=_SHOPIFY_TOPICS,
        parse=shopify_order,
    )


@routes.post("/woocommerce/orders")
async def woocommerce(request: web.Request) -> web.Response:
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        if "webhook_id" in form:  # WooCommerce's ping when the webhook is saved
            return web.json_response({"ok": True})
    return await _receive(
        request,
        "woocommerce",
        signature_header="X-WC-Webhook-Signature",
        topic=("X-WC-Webhook-Topic", "order.created"),
        delivery_header="X-WC-Webhook-Delivery-ID",
        topics=_WOO_TOPICS,
        parse=woocommerce_order,
    )
