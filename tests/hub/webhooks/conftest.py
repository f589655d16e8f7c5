"""A real receiver on 127.0.0.1 that fails its first N requests, and a job context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.config import Settings
from hub.security import Vault
from hub.storage.db import create_engine, session_factory
from hub.tasks.context import TaskContext
from hub.tenancy import create_merchant
from hub.webhooks.endpoints import EndpointIn, create_endpoint
from tests.conftest import SECRET, make_settings


@dataclass
class Seen:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers ``fail_status`` to the first ``fail_first`` requests, then ``ok_status``."""

    url: str = ""
    fail_first: int = 0
    fail_status: int = 500
    ok_status: int = 200
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(Seen(dict(request.headers), await request.read()))
        if len(self.seen) <= self.fail_first:
            return web.Response(status=self.fail_status, text="receiver is down")
        return web.Response(status=self.ok_status, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("/hook"))
    yield state
    await server.close()


def hook_settings(tmp_path: Path, database_url: str, **webhooks: Any) -> Settings:
    return make_settings(
        tmp_path,
        database_url=database_url,
        webhooks={"allow_private": True, "timeout_s": 5, **webhooks},
    )


@pytest.fixture
async def ctx(tmp_path: Path, backend: str) -> AsyncIterator[TaskContext]:
    """What a worker gets, on each backend; tests swap settings with ``with_settings``."""
    settings = hook_settings(tmp_path, backend)
    engine = create_engine(settings.database)
    http = aiohttp.ClientSession()
    yield TaskContext(
        settings=settings,
        sessions=session_factory(engine),
        vault=Vault(SECRET),
        http=http,
        redis=None,
    )
    await http.close()
    await engine.dispose()


def with_settings(ctx: TaskContext, **webhooks: Any) -> TaskContext:
    cfg = ctx.settings.webhooks.model_copy(update=webhooks)
    settings = ctx.settings.model_copy(update={"webhooks": cfg})
    return TaskContext(settings, ctx.sessions, ctx.vault, ctx.http, ctx.redis)


@dataclass(frozen=True)
class Endpoint:
    merchant_id: int
    endpoint_id: int
    secret: str


async def new_endpoint(
    ctx: TaskContext, url: str, event_types: list[str], merchant_id: int | None = None
) -> Endpoint:
    async with ctx.sessions() as session:
        if merchant_id is None:
            made = await create_merchant(
                session, ctx.vault, name="Shop", storefront_url="https://shop.test/"
            )
            await session.commit()
            merchant_id = made.merchant_id
        out, secret = await create_endpoint(
            session,
            ctx.vault,
            merchant_id,
            EndpointIn.model_validate({"url": url, "event_types": event_types}),
            allow_private=True,
        )
    return Endpoint(merchant_id, out.id, secret)
