"""Publishing scenarios shared by both profiles: the embedded process (in-process runner and
ticker) and the production one (two real Celery workers on Redis). Each drives the public API
against contract servers on 127.0.0.1 and checks the channels' own record of posts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.contract import discord as dc
from tests.contract import line as ln
from tests.contract import telegram as tg
from tests.contract import webhook as wh
from tests.contract._server import ContractState, serve

# Every rule off: each scenario turns on what it tests, per account.
POLICY_OFF: dict[str, Any] = {
    "max_posts_per_24h": 0,
    "min_gap_s": 0,
    "quiet_hours": "",
    "same_product_days": 0,
    "near_duplicate_bits": -1,
    "rate_burst": 20,  # the channels' documented rates, without spacing every call
    "kinds": {},
}
PUBLISHING_FAST: dict[str, Any] = {
    "backoff_base_s": 0.3,
    "backoff_max_s": 1.0,
    "requeue_after_s": 5,
    "max_inline_wait_s": 0.5,
}
SETTLED = {"published", "failed", "cancelled", "retracted", "unknown"}


@dataclass
class Channels:
    """Contract servers for Telegram, Discord, a signed-webhook receiver and LINE (with its
    monthly message quota and clock)."""

    tg: ContractState = field(default_factory=ContractState)
    dc: ContractState = field(default_factory=ContractState)
    wh: ContractState = field(default_factory=ContractState)
    line: ContractState = field(default_factory=ContractState)
    line_quota: ln.MonthlyQuota = field(default_factory=ln.MonthlyQuota)
    urls: dict[str, str] = field(default_factory=dict)
    # Answer slowly *after* the post was stored (the worker can die in between).
    slow_after_post_s: dict[str, float] = field(default_factory=dict)


def _slow_after(channels: Channels, kind: str) -> Any:
    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        delay = channels.slow_after_post_s.pop(kind, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return response  # type: ignore[no-any-return]

    return slow


@asynccontextmanager
async def contract_servers() -> AsyncIterator[Channels]:
    channels = Channels()
    async with AsyncExitStack() as stack:
        apps: dict[str, web.Application] = {
            "telegram": tg.create_app(channels.tg),
            "discord": dc.create_app(channels.dc),
            "webhook": wh.create_app(channels.wh),
            "line": ln.create_app(channels.line, channels.line_quota),
        }
        for kind, app in apps.items():
            app.middlewares.append(_slow_after(channels, kind))
            channels.urls[kind] = await stack.enter_async_context(serve(app))
        yield channels


@dataclass
class Hub:
    client: TestClient[Any, Any]
    auth: dict[str, str]
    channels: Channels
    _products: int = 0

    async def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        reply = await self.client.request(method, f"/api/v1{path}", headers=self.auth, **kw)
        body = await reply.text()
        assert reply.status == status, (reply.status, body)
        return await reply.json() if body else None

    async def product(self, title: str | None = None, description: str | None = None) -> int:
        self._products += 1
        body = {
            "title": title or f"Product {self._products}",
            "description": description
            or f"Handmade item number {self._products}, stoneware, gift boxed.",
            "url": f"https://shop.test/p/{self._products}",
            "price": "12.50",
            "currency": "EUR",
        }
        return int((await self.call("POST", "/products", 201, json=body))["id"])

    def config(self, kind: str, **extra: Any) -> dict[str, Any]:
        url = self.channels.urls[kind]
        if kind == "telegram":
            return {"token": tg.TOKEN, "chat_id": tg.CHANNEL_ID, "base_url": url, **extra}
        if kind == "discord":
            return {"webhook_url": dc.webhook_url(), "base_url": url, **extra}
        if kind == "line":
            return {"channel_access_token": ln.TOKEN, "to": ln.USER_ID, "base_url": url, **extra}
        return {"url": f"{url}{wh.PATH}", "secret": wh.SECRET, **extra}

    async def channel(
        self,
        kind: str,
        name: str | None = None,
        policy: dict[str, Any] | None = None,
        **extra: Any,
    ) -> int:
        body = {
            "kind": kind,
            "name": name or kind,
            "config": self.config(kind, **extra),
            "policy": policy or {},
        }
        return int((await self.call("POST", "/channels", 201, json=body))["id"])

    async def share(self, product_id: int, channel_ids: list[int], **kw: Any) -> dict[str, Any]:
        body = {"product_id": product_id, "channel_ids": channel_ids, **kw}
        out: dict[str, Any] = await self.call("POST", "/shares", 201, json=body)
        return out

    async def get(self, share_id: int) -> dict[str, Any]:
        out: dict[str, Any] = await self.call("GET", f"/shares/{share_id}")
        return out

    async def wait(
        self,
        share_id: int,
        states: set[str] | None = None,
        timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        """The share once every target is in `states` (default: settled)."""
        wanted = states or SETTLED
        deadline = time.monotonic() + timeout_s
        while True:
            share = await self.get(share_id)
            if all(t["state"] in wanted for t in share["targets"]):
                return share
            if time.monotonic() > deadline:
                raise AssertionError(f"share {share_id} not in {wanted}: {share['targets']}")
            await asyncio.sleep(0.2)


def transitions(target: dict[str, Any]) -> list[str]:
    return [e["to_state"] for e in target["events"]]
