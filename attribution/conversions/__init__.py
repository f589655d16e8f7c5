"""Conversions in: signed hooks, orders, identity-aware journeys and stored credits.

``signatures`` (Standard Webhooks, Shopify and WooCommerce HMACs), ``orders`` (the hub's order
body and its normalised form), ``platforms`` (Shopify and WooCommerce order payloads),
``keys`` (the merchant's signing secrets), ``ingest`` (recording an order idempotently),
``journeys`` (journeys out of SQL), ``credits`` (credits into SQL, split by product) and
``attributing`` (the two attribution runs: one conversion, and the data-driven batch).
"""

from __future__ import annotations

from attribution.conversions.attributing import (
    Attributed,
    attribute_conversion,
    attribute_conversions,
    attribute_data_driven,
    claim_due,
    data_driven_specs,
    rule_based_specs,
)
from attribution.conversions.ingest import Recorded, record_order
from attribution.conversions.keys import (
    PLATFORMS,
    Platform,
    platform_secret,
    set_platform_secret,
    webhook_key,
)
from attribution.conversions.orders import LineItem, LineItemIn, Order, OrderIn
from attribution.conversions.platforms import PayloadError, shopify_order, woocommerce_order
from attribution.conversions.signatures import (
    SignatureError,
    SignedMessage,
    check_timestamp,
    parse_headers,
    secret_key_bytes,
    sign,
    verify,
    verify_body_hmac,
)

__all__ = [
    "PLATFORMS",
    "Attributed",
    "LineItem",
    "LineItemIn",
    "Order",
    "OrderIn",
    "PayloadError",
    "Platform",
    "Recorded",
    "SignatureError",
    "SignedMessage",
    "attribute_conversion",
    "attribute_conversions",
    "attribute_data_driven",
    "check_timestamp",
    "claim_due",
    "data_driven_specs",
    "parse_headers",
    "platform_secret",
    "record_order",
    "rule_based_specs",
    "secret_key_bytes",
    "set_platform_secret",
    "shopify_order",
    "sign",
    "verify",
    "verify_body_hmac",
    "webhook_key",
    "woocommerce_order",
]
