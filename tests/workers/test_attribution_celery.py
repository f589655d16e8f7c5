"""Attribution on the production profile: a real `hub worker` process (queues ``clicks`` and
``attribution``) on Redis and PostgreSQL consumes the attribution jobs.

Clicks go through the web app's edge into the Redis stream and reach SQL only through the
worker's ``clicks.drain`` (sent by Celery beat, or by the test as beat would); a conversion
posted to the signed hook is attributed by the worker (the five rule-based models), and again
by ``attribution.scan_due`` once it is due, taking in a click that reached SQL late; the hourly
``attribution.data_driven_scan`` stores the Markov and Shapley credits.

One worker serves the whole module (it reads the run's migrated database, which ``pg_url``
empties after each test); the web app and its settings are made per test."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from aiohttp.test_utils import TestClient
from celery.exceptions import TimeoutError as CeleryTimeout
from sqlalchemy import select

from attribution.clicks import stream_status
from hub.config import Settings
from hub.storage.db import SessionFactory
from hub.storage.models import Click as ClickRow
from hub.tasks.broker import make_celery
from hub.tasks.dispatch import CeleryQueue
from hub.web.keys import REDIS
from tests.attribution.conversions._seed import (
    conversion,
    credits_of,
    sessions_of,
    signed,
    wait_attributed,
)
from tests.attribution.edge.conftest import PRODUCT, count_clicks, previews
from tests.conftest import ClientFactory, MerchantFactory, bearer, make_settings
from tests.workers.test_publish_workers import _spawn, _stop, production_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

Client = TestClient[Any, Any]
CHROME = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SETTLE_S = 4  # the second pass of a conversion comes this long after it arrived
SECTIONS: dict[str, dict[str, Any]] = {
    "attribution": {"settle_s": SETTLE_S},
    "edge": {"batch_max_delay_ms": 2},
}
RULE_BASED = {"first_touch", "last_touch", "linear", "time_decay", "position_based"}


@dataclass
class Worker:
    """The module's worker process, its settings and a sender of jobs by name (as beat)."""

    settings: Settings
    config: Path
    proc: Any
    logs: Path
    sender: Any  # a Celery app

    @property
    def queue(self) -> CeleryQueue:
        return CeleryQueue(self.sender)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    async def run(self, name: str, timeout_s: float = 30.0, **kwargs: Any) -> Any:
        """Send job `name` to its queue and wait for the worker's result."""
        task_id = await self.queue.enqueue(name, **kwargs)
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, self.log_text()[-4000:]
            try:
                return await self.queue.result(task_id, timeout_s=1.0)
            except CeleryTimeout:
                if time.monotonic() > deadline:
                    message = f"{name} got no result:\n{self.log_text()[-4000:]}"
                    raise AssertionError(message) from None


def _await_ping(made: Worker) -> None:
    app = make_celery(made.settings, "test-control")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert made.proc.poll() is None, made.log_text()
            if app.control.ping(timeout=1.0):
                return
        raise AssertionError("the worker did not answer:\n" + made.log_text())
    finally:
        app.close()


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, pg_session_url: str, redis_session_url: str
) -> Iterator[Worker]:
    home = tmp_path_factory.mktemp("attribution-worker")
    config = production_config(home, pg_session_url, redis_session_url, SECTIONS)
    settings = make_settings(
        home,
        database_url=pg_session_url,
        redis_url=redis_session_url,
        profile="production",
        **SECTIONS,
    )
    hub = str(Path(sys.executable).with_name("hub"))
    proc = _spawn(
        [hub, "worker", "--concurrency", "2", "-Q", "clicks,attribution", "-n", "attr@%h"],
        config,
        home / "worker.log",
    )
    made = Worker(settings, config, proc, home, make_celery(settings, "test-jobs"))
    try:
        _await_ping(made)
        yield made
    finally:
        _stop(proc)
        made.sender.close()
        with redis.Redis.from_url(redis_session_url) as client:
            client.flushdb()  # the queues' bindings and results of this module's worker


@dataclass
class Shop:
    """A merchant with one product, in a web app on the production profile."""

    client: Client
    settings: Settings
    merchant: Any
    product_id: int
    links: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def sessions(self) -> SessionFactory:
        return sessions_of(self.client)

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = bearer(self.merchant.api_key.token)
        resp = await self.client.post(f"/api/v1/{path}", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        out: dict[str, Any] = await resp.json()
        return out

    async def link(self, channel_kind: str) -> str:
        """A new tracked link of the product for `channel_kind`; its code."""
        body = {"product_id": self.product_id, "channel_kind": channel_kind}
        self.links[channel_kind] = made = await self.call("links", body)
        return str(made["code"])

    async def click(
        self, code: str, visitor: str | None = None, ua: str = CHROME
    ) -> tuple[str, str]:
        """One redirect through the edge: (click id, visitor id); ("", "") for a preview."""
        self.client.session.cookie_jar.clear()
        headers = {"User-Agent": ua}
        if visitor:
            headers["Cookie"] = f"{self.settings.edge.cookie_name}={visitor}"
        resp = await self.client.get("/" + code, allow_redirects=False, headers=headers)
        if resp.status == 200:
            return "", ""
        assert resp.status == 302, resp.status
        click_id = parse_qs(urlsplit(resp.headers["Location"]).query)["hub_cid"][0]
        if visitor is None:
            cookie = resp.headers["Set-Cookie"].split(";")[0]
            visitor = cookie.split("=", 1)[1]
        return click_id, visitor

    async def order(self, order_id: str, visitor: str, amount: str = "100.00") -> int:
        payload = {
            "order_id": order_id,
            "amount": amount,
            "currency": "USD",
            "occurred_at": datetime.now(UTC).isoformat(),
            "visitor_id": visitor,
        }
        body, headers = signed(self.merchant.webhook_secret, payload)
        resp = await self.client.post(
            f"/hooks/v1/conversions?merchant={self.merchant.merchant_id}",
            data=body,
            headers=headers,
        )
        assert resp.status == 201, await resp.text()
        return int((await resp.json())["conversion_id"])

    async def stored_clicks(self) -> dict[str, ClickRow]:
        async with self.sessions() as session:
            rows = await session.scalars(select(ClickRow))
            return {r.click_id: r for r in rows}


@pytest.fixture
async def shop(
    pg_url: str,
    worker: Worker,
    tmp_path: Path,
    client_for: ClientFactory,
    new_merchant: MerchantFactory,
) -> AsyncIterator[Shop]:
    # `pg_url` first: the app closes before the database is emptied.
    settings = make_settings(
        tmp_path,
        database_url=pg_url,
        redis_url=worker.settings.redis.url,
        profile="production",
        **SECTIONS,
    )
    client = await client_for(settings)
    made = Shop(client, settings, await new_merchant(client), 0)
    made.product_id = int((await made.call("products", PRODUCT))["id"])
    yield made


def _by_model(credits: list[Any], kinds: dict[str, str]) -> dict[str, dict[str, float]]:
    """{model: {channel kind: credited revenue}} of one conversion's credits."""
    out: dict[str, dict[str, float]] = {}
    for c in credits:
        assert c.channel_kind == kinds[c.click_id], (c.click_id, c.channel_kind)
        per = out.setdefault(c.model, {})
        per[c.channel_kind] = per.get(c.channel_kind, 0.0) + c.revenue_minor
    return out


async def test_conversion_is_attributed_and_due_again_after_a_late_click(
    shop: Shop, worker: Worker
) -> None:
    tg, dc, ma = [await shop.link(kind) for kind in ("telegram", "discord", "mastodon")]
    first, visitor = await shop.click(tg)
    second, _ = await shop.click(dc, visitor)
    await asyncio.sleep(0.05)  # the edge's batch is sent
    drained = await worker.run("clicks.drain")
    assert drained["clicks"] == 2, drained
    assert set(await shop.stored_clicks()) == {first, second}
    # A third click is still in the stream when the order comes in.
    late, _ = await shop.click(ma, visitor)
    await asyncio.sleep(0.05)
    kinds = {first: "telegram", second: "discord", late: "mastodon"}

    cid = await shop.order("A-1", visitor)
    conv = await wait_attributed(shop.sessions, cid, timeout_s=20)
    credits = await credits_of(shop.sessions, cid)
    assert {c.click_id for c in credits} == {first, second}
    got = _by_model(credits, kinds)
    assert set(got) == RULE_BASED
    assert got["first_touch"] == {"telegram": pytest.approx(10000)}
    assert got["last_touch"] == {"discord": pytest.approx(10000)}
    for model in ("linear", "position_based", "time_decay"):
        assert got[model] == {
            "telegram": pytest.approx(5000, abs=1),
            "discord": pytest.approx(5000, abs=1),
        }, model
    assert conv.attribute_due_at is not None  # the settle pass
    assert conv.attribute_due_at == conv.created_at + timedelta(seconds=SETTLE_S)

    drained = await worker.run("clicks.drain")
    assert drained["clicks"] == 1 and late in await shop.stored_clicks()
    scanned_at = datetime.now(UTC)
    early = await worker.run("attribution.scan_due")
    if scanned_at < conv.attribute_due_at - timedelta(seconds=1):  # (a slow machine: late)
        assert early == {"attributed": 0}  # not due yet: the scan leaves it alone
    wait_s = (conv.attribute_due_at - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(wait_s, 0) + 0.2)
    due = await worker.run("attribution.scan_due")
    assert due["attributed"] + early["attributed"] == 1

    again = await conversion(shop.sessions, cid)
    assert again.attributed_at is not None and conv.attributed_at is not None
    assert again.attributed_at > conv.attributed_at
    assert again.attribute_due_at is None  # settled: nothing more to do
    credits = await credits_of(shop.sessions, cid)
    assert {c.click_id for c in credits} == {first, second, late}
    got = _by_model(credits, kinds)
    assert set(got) == RULE_BASED
    assert got["first_touch"] == {"telegram": pytest.approx(10000)}
    assert got["last_touch"] == {"mastodon": pytest.approx(10000)}
    third = pytest.approx(10000 / 3, abs=1)
    assert got["linear"] == {"telegram": third, "discord": third, "mastodon": third}
    assert got["position_based"] == {
        "telegram": pytest.approx(4000, abs=1),
        "discord": pytest.approx(2000, abs=1),
        "mastodon": pytest.approx(4000, abs=1),
    }
    for model in RULE_BASED:
        mine = [c for c in credits if c.model == model]
        assert sum(c.weight for c in mine) == pytest.approx(1.0), model
        assert sum(c.revenue_minor for c in mine) == pytest.approx(10000), model


async def test_data_driven_batch_stores_markov_and_shapley_credits(
    shop: Shop, worker: Worker
) -> None:
    tg, dc, ma = [await shop.link(kind) for kind in ("telegram", "discord", "mastodon")]
    c1, v1 = await shop.click(tg)
    c2, _ = await shop.click(dc, v1)
    c3, v2 = await shop.click(dc)
    await shop.click(tg)  # v3 and v4 never buy
    await shop.click(ma)
    await asyncio.sleep(0.05)
    assert (await worker.run("clicks.drain"))["clicks"] == 5
    one = await shop.order("1", v1)
    two = await shop.order("2", v2, amount="50.00")
    for cid in (one, two):  # the rule-based pass of each, by the worker
        await wait_attributed(shop.sessions, cid, timeout_s=20)
    assert await credits_of(shop.sessions, one, "markov") == []

    done = await worker.run("attribution.data_driven_scan")
    assert done == {"merchants": 1, "conversions": 2}, done

    markov = {(c.conversion_id, c.click_id): c for c in await _all(shop, "markov")}
    # Paths: tg→dc converts, dc converts, tg and ma do not. P(conversion) = 1/2; without
    # telegram 1/4 (removal effect 1/2), without discord 0 (effect 1): credits 1/3 and 2/3.
    assert {k: c.weight for k, c in markov.items()} == {
        (one, c1): pytest.approx(1 / 3),
        (one, c2): pytest.approx(2 / 3),
        (two, c3): pytest.approx(1.0),
    }
    assert markov[(one, c1)].revenue_minor == pytest.approx(10000 / 3)
    assert markov[(two, c3)].revenue_minor == pytest.approx(5000)
    assert {c.channel_kind for c in markov.values()} == {"telegram", "discord"}
    shapley = {(c.conversion_id, c.click_id): c.weight for c in await _all(shop, "shapley")}
    # Journeys {tg, dc} and {dc}: φ(tg) = 1/2, φ(dc) = 1/2 + 1; order 1 splits 1/4 : 3/4.
    assert shapley == {
        (one, c1): pytest.approx(0.25),
        (one, c2): pytest.approx(0.75),
        (two, c3): pytest.approx(1.0),
    }
    # The batch replaces the data-driven credits and leaves the rule-based ones alone.
    assert (await worker.run("attribution.data_driven", merchant_id=shop.merchant.merchant_id))[
        "conversions"
    ] == 2
    assert len(await _all(shop, "markov")) == 3 and len(await _all(shop, "shapley")) == 3
    for cid in (one, two):
        models = {c.model for c in await credits_of(shop.sessions, cid)}
        assert models == RULE_BASED | {"markov", "shapley"}


async def _all(shop: Shop, model: str) -> list[Any]:
    from hub.storage.models import AttributionCredit

    async with shop.sessions() as session:
        rows = await session.scalars(
            select(AttributionCredit).where(AttributionCredit.model == model)
        )
        return list(rows)


async def test_beat_schedules_the_drain_and_the_worker_stores_every_click(
    shop: Shop, worker: Worker, tmp_path: Path
) -> None:
    code = await shop.link("telegram")
    ids: list[str] = []
    visitors: list[str] = []
    for _ in range(10):
        click_id, visitor = await shop.click(code)
        ids.append(click_id)
        visitors.append(visitor)
    repeat, _ = await shop.click(code, visitors[0])  # the same visitor again: not unique
    ids.append(repeat)
    assert await shop.click(code, ua="TelegramBot (like TwitterBot)") == ("", "")
    await asyncio.sleep(0.1)
    app = shop.client.app
    assert app is not None
    backlog = await stream_status(app[REDIS], shop.settings.edge)
    assert backlog.length >= 1 and backlog.lag >= 1
    assert await count_clicks(shop.client) == 0  # the web app never writes clicks itself

    beat = _spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "-s",
            str(tmp_path / "beat-schedule"),
            "--loglevel",
            "INFO",
        ],
        worker.config,
        tmp_path / "beat.log",
    )
    try:
        deadline = time.monotonic() + 30
        while await count_clicks(shop.client) < len(ids):
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            if time.monotonic() > deadline:
                raise AssertionError(
                    (tmp_path / "beat.log").read_text() + worker.log_text()[-4000:]
                )
            await asyncio.sleep(0.1)
    finally:
        _stop(beat)
    stored = await shop.stored_clicks()
    assert sorted(stored) == sorted(ids)
    assert sum(r.is_unique for r in stored.values()) == 10
    assert {r.visitor_id for r in stored.values()} == set(visitors)
    assert await previews(shop.client) == [(shop.links["telegram"]["id"], "telegram", 1)]
    backlog = await stream_status(app[REDIS], shop.settings.edge)
    assert (backlog.length, backlog.lag, backlog.pending) == (0, 0, 0)
    assert "Sending due task clicks.drain" in (tmp_path / "beat.log").read_text()
