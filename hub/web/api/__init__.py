"""The versioned JSON API, mounted at ``/api/v1``; every route needs an API key."""

from __future__ import annotations

from aiohttp import web

from hub.web.api import campaigns, channels, keys, links, products, reports, shares, webhooks
from hub.web.middleware import auth
from hub.web.ratelimit import rate_limit

__all__ = ["create_api"]


def create_api() -> web.Application:
    api = web.Application(middlewares=[auth, rate_limit()])
    api.add_routes(products.routes)
    api.add_routes(keys.routes)
    api.add_routes(webhooks.routes)
    api.add_routes(channels.routes)
    api.add_routes(shares.routes)
    api.add_routes(links.routes)
    api.add_routes(campaigns.routes)
    api.add_routes(reports.routes)
    return api
