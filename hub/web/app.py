"""The aiohttp application factory: one web app for the API, the edge and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import version

import aiohttp
from aiohttp import web

from attribution.clicks import open_sink
from attribution.edge import Edge, add_edge_routes, outside_edge
from hub.config import Settings
from hub.links import sql_resolver
from hub.security import Vault
from hub.storage.db import create_engine, session_factory
from hub.storage.migrate import upgrade
from hub.tasks.broker import make_celery
from hub.tasks.context import TaskContext, open_redis
from hub.tasks.dispatch import CeleryQueue, InProcessQueue, TaskQueue
from hub.tasks.ticker import Ticker
from hub.web import health
from hub.web.api import create_api
from hub.web.dashboard import add_dashboard
from hub.web.hooks import create_hooks
from hub.web.keys import EDGE, ENGINE, HTTP, OPENAPI, REDIS, SESSIONS, SETTINGS, TASKS, VAULT
from hub.web.middleware import body_limit, json_errors, request_id
from hub.web.openapi import build_document, operation

__all__ = ["create_app"]


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        # Applied to every route but the edge's GET /{code} (see attribution.edge.outside_edge).
        middlewares=[outside_edge(request_id, json_errors, body_limit)],
        client_max_size=settings.server.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[VAULT] = Vault(settings.security.secret_key.get_secret_value())
    app.cleanup_ctx.extend([_database, _redis, _http, _tasks, _edge])
    app.add_routes(health.routes)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.add_subapp("/api/v1", create_api())
    app.add_subapp("/hooks/v1", create_hooks())
    app.on_startup.append(_document)
    add_dashboard(app)
    # The edge's GET /{code} is a catch-all for one path segment: keep it the last route.
    add_edge_routes(app, Edge(settings))
    return app


@operation("This OpenAPI 3.1 document", public=True)
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of every route, generated from the code."""
    return web.json_response(request.app[OPENAPI])


async def _document(app: web.Application) -> None:
    app[OPENAPI] = build_document(app, title="hub", version=version("hub"))


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database)
    if settings.database.auto_migrate:
        await upgrade(engine)
    app[ENGINE] = engine
    app[SESSIONS] = session_factory(engine)
    yield
    await engine.dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    redis = open_redis(app[SETTINGS])
    if redis is None:
        yield
        return
    app[REDIS] = redis
    yield
    await redis.aclose()


async def _http(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    app[HTTP] = session
    yield
    await session.close()


async def _tasks(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    queue: TaskQueue
    if settings.tasks.runner == "celery":
        queue = CeleryQueue(make_celery(settings, "hub-web"))
    else:
        ctx = TaskContext(
            settings=settings,
            sessions=app[SESSIONS],
            vault=app[VAULT],
            http=app[HTTP],
            redis=app.get(REDIS),
        )
        queue = InProcessQueue(ctx, settings.tasks.concurrency)
    app[TASKS] = queue
    ticker = Ticker(queue) if settings.tasks.runner == "inprocess" else None
    if ticker is not None:
        ticker.start()
    yield
    if ticker is not None:
        await ticker.stop()
    await queue.close()


async def _edge(app: web.Application) -> AsyncIterator[None]:
    """The redirect edge and its click sink; the sink is flushed on the way out."""
    settings, sessions, redis = app[SETTINGS], app[SESSIONS], app.get(REDIS)
    async with open_sink(settings, redis=redis, sessions=sessions) as sink:
        app[EDGE].attach(sql_resolver(sessions, settings.links), redis, sink)
        yield
