"""The edge ``GET /{code}`` (and ``HEAD``): resolve → classify → decide → sink.put → respond.

This is the hot path. A request that hits the memory cache makes no await at all: one dict
lookup for the link, one for the user agent, a few string operations, one tuple handed to
the sink's batch. Tuned against ``bench/edge.py``; keep new work off this path.

The route is a catch-all for one path segment, so :func:`add_edge_routes` must be the last
route registered on the root app. ``hub serve`` also answers those requests before routing
(:func:`edge_first`): the route is the way in for anything that serves the app without it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from redis.asyncio import Redis

from attribution.clicks.events import Click, Preview
from attribution.edge.agents import Classifier
from attribution.edge.cache import LinkCache
from attribution.edge.decide import Missing, Redirect, ShowCard, decide
from attribution.edge.entry import Resolver
from attribution.edge.ids import IpMasker, new_id_pair, read_cookie, visitor_cookie
from attribution.edge.page import GONE_PAGE, NOT_FOUND_PAGE, UNAVAILABLE_PAGE, card_page
from hub.config import Settings

__all__ = [
    "CODE_PATTERN",
    "EDGE",
    "ClickSink",
    "Edge",
    "add_edge_routes",
    "edge_first",
    "outside_edge",
]

log = structlog.get_logger("attribution.edge")

# Generated codes and slugs alike (hub.links validates slugs against it).
CODE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{2,63}"
_HTML = "text/html; charset=utf-8"


class ClickSink(Protocol):
    """Takes events off the request path; never blocks, never raises."""

    def put(self, event: Click | Preview) -> None: ...


class Edge:
    """Everything one process's edge needs: made with the app, attached at start-up.

    Its :meth:`respond` is the route's handler itself (no wrapper coroutine in between);
    the link cache and the click sink need the database, Redis and the event loop, so they
    are attached by the app's start-up (:meth:`attach`), before the first request.
    """

    cache: LinkCache
    sink: ClickSink

    def __init__(self, settings: Settings) -> None:
        edge = settings.edge
        self._settings = edge
        self._classify = Classifier()
        self._mask_ip = IpMasker(edge.ip_mode, settings.security.secret_key.get_secret_value())
        self._hops = edge.trusted_proxy_hops
        self._cookie_eq = edge.cookie_name + "="
        self._always_secure = settings.server.public_url.startswith("https://")
        self._cookie_plain = visitor_cookie(edge.cookie_name, edge.cookie_max_age_s, secure=False)
        self._cookie_secure = visitor_cookie(edge.cookie_name, edge.cookie_max_age_s, secure=True)

    def attach(self, resolver: Resolver, redis: Redis | None, sink: ClickSink) -> None:
        edge = self._settings
        self.cache = LinkCache(
            resolver,
            redis,
            max_entries=edge.cache_size,
            ttl_s=edge.cache_ttl_s,
            negative_ttl_s=edge.negative_ttl_s,
            redis_ttl_s=edge.redis_cache_ttl_s,
        )
        self.sink = sink

    async def respond(self, request: web.Request) -> web.Response:
        """The ``/{code}`` route's handler."""
        return await self.answer(request, request.match_info["code"])

    async def answer(self, request: web.BaseRequest, code: str) -> web.Response:
        """The answer to ``GET``/``HEAD /<code>``, however the request was routed here."""
        known, entry = self.cache.get(code)
        if not known:
            try:
                entry = await self.cache.resolve(code)
            except Exception:
                log.exception("edge_resolve_failed", code=code)
                return web.Response(
                    status=503,
                    text=UNAVAILABLE_PAGE,
                    content_type="text/html",
                    headers={"Retry-After": "5", "Cache-Control": "no-store"},
                )
        headers = request.headers
        user_agent = headers.get("User-Agent", "")
        click_id, fresh_id = new_id_pair()
        outcome = decide(
            entry,
            self._classify(user_agent),
            now=time.time(),
            head=request.method == "HEAD",
            visitor_id=read_cookie(headers.get("Cookie"), self._cookie_eq),
            fresh_id=fresh_id,
            click_id=click_id,
            ip=self._client_ip(request),
            user_agent=user_agent,
            referrer=headers.get("Referer"),
        )
        if outcome.event is not None:
            self.sink.put(outcome.event)
        if type(outcome) is Redirect:
            out = {"Location": outcome.location, "Cache-Control": "no-store"}
            if outcome.new_visitor_id is not None:
                out["Set-Cookie"] = (
                    self._cookie_eq + outcome.new_visitor_id + self._cookie_suffix(request)
                )
            return web.Response(status=302, headers=out)
        if type(outcome) is ShowCard:
            out = {"Content-Type": _HTML, "Cache-Control": "no-store"}
            refresh = None
            if outcome.new_visitor_id is not None:
                refresh = request.path
                out["Set-Cookie"] = (
                    self._cookie_eq + outcome.new_visitor_id + self._cookie_suffix(request)
                )
            return web.Response(text=card_page(outcome.entry, refresh_to=refresh), headers=out)
        status, page = (404, NOT_FOUND_PAGE) if type(outcome) is Missing else (410, GONE_PAGE)
        return web.Response(
            status=status, text=page, headers={"Content-Type": _HTML, "Cache-Control": "no-store"}
        )

    def _cookie_suffix(self, request: web.BaseRequest) -> str:
        secure = (
            self._always_secure
            or request.secure
            or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        )
        return self._cookie_secure if secure else self._cookie_plain

    def _client_ip(self, request: web.BaseRequest) -> str | None:
        if self._hops:
            forwarded = request.headers.get("X-Forwarded-For")
            if forwarded:
                hops = [h.strip() for h in forwarded.split(",")]
                return self._mask_ip(hops[-self._hops] if len(hops) >= self._hops else hops[0])
        return self._mask_ip(request.remote)


EDGE = web.AppKey("edge", Edge)


def add_edge_routes(app: web.Application, edge: Edge) -> None:
    """``GET``/``HEAD /{code}`` answered by ``edge``; register it last, after every other
    root route. ``edge`` is kept as ``app[EDGE]`` and must be attached at start-up."""
    app[EDGE] = edge
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}", edge.respond, name="edge")


RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def edge_first(app: web.Application, handler: RequestHandler) -> RequestHandler:
    """``handler`` (the server's, which routes into ``app``) with the edge's requests taken
    first: a ``GET``/``HEAD`` of one path segment that is a code and no other root route goes
    straight to :meth:`Edge.answer`, the way the router would send it, without the router's
    and the middlewares' work. Everything else goes to ``handler``.

    Serving installs it on the low-level server (``runner.server.request_handler``) after
    the app is set up and before the first connection: on a redirect that costs a fifth of
    aiohttp's own work, the router and the middleware chain were a third of the edge's.
    """
    edge = app[EDGE]
    code_path = re.compile(f"/({CODE_PATTERN})").fullmatch
    # Codes the router would give to another root route first ("/healthz", "/dashboard"...).
    taken = {
        resource.canonical[1:]
        for resource in app.router.resources()
        if resource.name != "edge" and resource.canonical.count("/") == 1
    }

    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        method = request.method
        if method == "GET" or method == "HEAD":
            found = code_path(request.path)
            if found is not None and found[1] not in taken:
                return await edge.answer(request, found[1])
        return await handler(request)

    return dispatch


def outside_edge(*middlewares: Middleware) -> Middleware:
    """The root app's middlewares as one, applied to every route but the edge's.

    Request ids, JSON errors and body limits are for the API; the edge answers with its own
    pages, takes no body, and a redirect's whole budget is smaller than what those three
    cost together.
    """

    @web.middleware
    async def chain(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.route.name == "edge":
            return await handler(request)
        for middleware in reversed(middlewares):
            handler = partial(middleware, handler=handler)
        return await handler(request)

    return chain
