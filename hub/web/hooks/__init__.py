"""Signed inbound hooks, mounted at ``/hooks/v1`` (no API key: the signature is the auth).

``conversions`` (the hub's own conversions and identify hooks, Standard Webhooks) and
``platforms`` (Shopify and WooCommerce order webhooks), ``shares`` (shares sent by a marketing
system). Every hook names its merchant with
``?merchant=<id>``.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.hooks import conversions, platforms, shares

__all__ = ["create_hooks"]


def create_hooks() -> web.Application:
    hooks = web.Application()
    hooks.add_routes(conversions.routes)
    hooks.add_routes(platforms.routes)
    hooks.add_routes(shares.routes)
    return hooks
