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

from collections.abc import Mapping

import structlog
from aiohttp import web

from attribution.conversions import PayloadError, shopify_order, woocommerce_order
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


@routes.post("/shopify/orders")
async def shopify(request: web.Request) -> web.Response:
    merchant_id, body = await platform_signed(request, "shopify", "X-Shopify-Hmac-Sha256")
    topic = request.headers.get("X-Shopify-Topic", "orders/create")
    log.info(
        "shopify_hook",
        merchant_id=merchant_id,
        topic=topic,
        webhook_id=request.headers.get("X-Shopify-Webhook-Id"),
    )
    if topic not in _SHOPIFY_TOPICS:
        return web.json_response({"ignored": topic})
    settings = request.config_dict[SETTINGS]
    try:
        order = shopify_order(
            _object(body),
            click_param=settings.links.click_id_param,
            visitor_param=settings.attribution.visitor_id_param,
        )
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await record(request, merchant_id, order)


@routes.post("/woocommerce/orders")
async def woocommerce(request: web.Request) -> web.Response:
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        if "webhook_id" in form:
            return web.json_response({"ok": True})
    merchant_id, body = await platform_signed(request, "woocommerce", "X-WC-Webhook-Signature")
    topic = request.headers.get("X-WC-Webhook-Topic", "order.created")
    log.info(
        "woocommerce_hook",
        merchant_id=merchant_id,
        topic=topic,
        delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID"),
    )
    if topic not in _WOO_TOPICS:
        return web.json_response({"ignored": topic})
    settings = request.config_dict[SETTINGS]
    try:
        order = woocommerce_order(
            _object(body),
            click_param=settings.links.click_id_param,
            visitor_param=settings.attribution.visitor_id_param,
        )
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await record(request, merchant_id, order)
