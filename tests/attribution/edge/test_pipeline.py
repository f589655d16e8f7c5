"""Production click pipeline: stream, drain, spool when Redis dies, reclaim when a drain dies."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as sync_redis
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import func, select

from attribution.clicks import (
    Click,
    RedisUniqueGate,
    drain,
    encode_batch,
    store_events,
    stream_status,
)
from hub.config import Settings
from hub.storage.models import Click as ClickRow
from hub.web.keys import REDIS, SESSIONS
from tests.attribution.edge.conftest import count_clicks, previews
from tests.conftest import CI, REPO, ClientFactory, free_port, make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
Client = TestClient[Any, Any]
CHROME = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def production(tmp_path: Path, pg_url: str, redis_url: str, **edge: Any) -> Settings:
    return make_settings(
        tmp_path,
        database_url=pg_url,
        redis_url=redis_url,
        profile="production",
        edge={"batch_max_delay_ms": 2, **edge},
    )


async def click(client: Client, code: str, ua: str = CHROME, cookie: str | None = None) -> str:
    client.session.cookie_jar.clear()
    headers = {"User-Agent": ua, **({"Cookie": cookie} if cookie else {})}
    resp = await client.get("/" + code, allow_redirects=False, headers=headers)
    assert resp.status in (200, 302), resp.status
    if resp.status == 200:
        return ""
    return parse_qs(urlsplit(resp.headers["Location"]).query)["hub_cid"][0]


async def drain_all(client: Client, settings: Settings, expected: int) -> int:
    app = client.server.app
    assert app is not None
    redis, sessions = app[REDIS], app[SESSIONS]
    gate = RedisUniqueGate(redis, settings.edge.unique_window_s)
    deadline = time.monotonic() + 15
    while True:
        await drain(redis, sessions, settings.edge, gate, consumer="test")
        n = await count_clicks(client)
        if n >= expected or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.05)


async def test_clicks_go_through_the_stream(
    tmp_path: Path, pg_url: str, redis_url: str, client_for: ClientFactory, seeded_factory: Any
) -> None:
    settings = production(tmp_path, pg_url, redis_url)
    client = await client_for(settings)
    seeded = await seeded_factory(client)
    first = await click(client, seeded.code)
    visitor_cookie = None
    ids = [first]
    for _ in range(9):
        ids.append(await click(client, seeded.code, cookie=visitor_cookie))
    # One visitor twice: one unique click.
    client.session.cookie_jar.clear()
    resp = await client.get(
        "/" + seeded.code, allow_redirects=False, headers={"User-Agent": CHROME}
    )
    cookie = resp.headers["Set-Cookie"].split(";")[0]
    ids.append(parse_qs(urlsplit(resp.headers["Location"]).query)["hub_cid"][0])
    ids.append(await click(client, seeded.code, cookie=cookie))
    await click(client, seeded.code, ua="TelegramBot (like TwitterBot)")
    await asyncio.sleep(0.1)
    app = client.server.app
    assert app is not None
    status = await stream_status(app[REDIS], settings.edge)
    assert status.length >= 1 and status.lag >= 1
    assert await count_clicks(client) == 0  # nothing in SQL before the drain
    assert await drain_all(client, settings, 12) == 12
    async with app[SESSIONS]() as session:
        rows = list(await session.scalars(select(ClickRow).order_by(ClickRow.id)))
    assert sorted(r.click_id for r in rows) == sorted(ids)
    assert sum(r.is_unique for r in rows) == 11  # the repeat click is not unique
    assert await previews(client) == [(seeded.link["id"], "telegram", 1)]
    status = await stream_status(app[REDIS], settings.edge)
    assert (status.length, status.lag, status.pending) == (0, 0, 0)
    assert status.oldest_pending_age_s is None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A separate redis-server on a free port, with an fsync'd AOF, that the test may kill."""
    binary = shutil.which("redis-server")
    if binary is None:
        if CI:
            pytest.fail("redis-server is not installed; ./dev test installs it")
        pytest.skip("redis-server is not installed")
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        str(data),
    ]
    state: dict[str, Any] = {"port": port, "url": f"redis://127.0.0.1:{port}/0"}

    def start() -> None:
        state["proc"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                sync_redis.Redis(port=port, socket_timeout=1).ping()
                return
            except sync_redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill() -> None:
        state["proc"].kill()
        state["proc"].wait()

    state["start"], state["kill"] = start, kill
    start()
    yield state
    if state["proc"].poll() is None:
        kill()


async def test_redis_killed_during_a_burst_loses_no_click(
    tmp_path: Path,
    pg_url: str,
    own_redis: dict[str, Any],
    client_for: ClientFactory,
    seeded_factory: Any,
) -> None:
    settings = production(tmp_path, pg_url, own_redis["url"], redis_retry_s=0.2)
    client = await client_for(settings)
    seeded = await seeded_factory(client)
    ids: list[str] = []

    async def burst(n: int) -> None:
        ids.extend(await asyncio.gather(*(click(client, seeded.code) for _ in range(n))))

    await burst(150)
    own_redis["kill"]()
    await burst(150)  # Redis is down: every redirect still served
    await asyncio.sleep(0.1)
    spooled = [p for p in (tmp_path / "spool").glob("*.spool") if p.stat().st_size]
    assert spooled, "batches were not spooled while Redis was down"
    own_redis["start"]()
    await burst(150)
    await asyncio.sleep(0.5)  # the sink retries, replays the spool, then sends
    assert await drain_all(client, settings, 450) == 450
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        stored = set(await session.scalars(select(ClickRow.click_id)))
    assert stored == set(ids) and len(ids) == 450
    assert not any(p.stat().st_size for p in (tmp_path / "spool").glob("*.spool"))


_DRAIN_PROCESS = """
import asyncio, sys
from redis.asyncio import Redis
from attribution.clicks import RedisUniqueGate, drain
from hub.config import EdgeSettings, DatabaseSettings
from hub.storage.db import create_engine, session_factory

async def main():
    redis = Redis.from_url(sys.argv[2])
    engine = create_engine(DatabaseSettings(url=sys.argv[1]))
    edge = EdgeSettings(drain_count=1)
    print("ready", flush=True)
    await drain(redis, session_factory(engine), edge, RedisUniqueGate(redis, 60),
                consumer="victim", max_s=600)

asyncio.run(main())
"""


async def test_a_drain_killed_mid_batch_loses_and_doubles_nothing(
    tmp_path: Path, pg_url: str, redis_url: str, client_for: ClientFactory, seeded_factory: Any
) -> None:
    settings = production(tmp_path, pg_url, redis_url)
    client = await client_for(settings)
    seeded = await seeded_factory(client)
    app = client.server.app
    assert app is not None
    redis: Redis = app[REDIS]
    link_id, merchant_id = seeded.link["id"], seeded.merchant_id
    now = time.time()
    entries, per_entry = 150, 400
    for e in range(entries):
        batch = [
            Click(
                f"cid-{e:03d}-{i:04d}",
                link_id,
                merchant_id,
                f"vis-{e:03d}-{i:04d}",
                now + i / 1000,
                False,
                "10.0.0.0",
                CHROME,
                None,
            )
            for i in range(per_entry)
        ]
        await redis.xadd(settings.edge.stream_key, {"b": encode_batch(batch)})
    total = entries * per_entry

    # A drain worker that dies for real, somewhere in the middle.
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRAIN_PROCESS, pg_url, redis_url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 60
        while (n := await count_clicks(client)) < per_entry * 3:
            assert time.monotonic() < deadline and proc.poll() is None
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    killed_at = await count_clicks(client)
    assert per_entry <= n <= killed_at < total

    # The state a crash between commit and XACK leaves: read, stored, never acknowledged.
    answer: Any = await redis.xreadgroup(
        settings.edge.stream_group, "ghost", {settings.edge.stream_key: ">"}, count=2
    )
    from attribution.clicks import decode_batch

    for _, fields in answer[0][1]:
        batch = decode_batch(fields[b"b"])
        await store_events(app[SESSIONS], batch.clicks, batch.previews, RedisUniqueGate(redis, 60))
    status = await stream_status(redis, settings.edge)
    assert status.pending >= 2 and status.oldest_pending_age_s is not None

    # Another worker claims what the dead ones left pending and finishes the stream.
    edge = settings.edge.model_copy(update={"claim_idle_s": 0.0})
    report = await drain(
        redis, app[SESSIONS], edge, RedisUniqueGate(redis, 60), consumer="rescuer", max_s=60
    )
    assert report.claimed >= 2
    async with app[SESSIONS]() as session:
        stored = (await session.execute(select(func.count()).select_from(ClickRow))).scalar_one()
        distinct = (
            await session.execute(select(func.count(func.distinct(ClickRow.click_id))))
        ).scalar_one()
        unique = (
            await session.execute(select(func.count()).where(ClickRow.is_unique.is_(True)))
        ).scalar_one()
    assert stored == distinct == total
    assert unique == total  # every click had its own visitor; replays kept their answer
    status = await stream_status(redis, settings.edge)
    assert (status.length, status.pending, status.lag) == (0, 0, 0)
