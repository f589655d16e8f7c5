"""The versioned JSON API, mounted at ``/api/v1``; every route needs an API key."""

from __future__ import annotations

from aiohttp import web

from hub.web.api import products
from hub.web.middleware import auth

__all__ = ["create_api"]


def create_api() -> web.Application:
    api = web.Application(middlewares=[auth])
    api.add_routes(products.routes)
    return api
