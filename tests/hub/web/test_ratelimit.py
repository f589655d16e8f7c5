"""The per-key rate limit: 429 with Retry-After, in process (embedded) and in Redis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from hub.web.ratelimit import gcra
from tests.conftest import ClientFactory, MerchantFactory, bearer, free_port, make_settings

Client = TestClient[Any, Any]


def test_gcra_allows_a_burst_then_one_per_interval() -> None:
    tat = None
    now = 1000.0
    remaining = []
    for _ in range(3):
        decision, tat = gcra(tat, now, limit=3, period_s=60)
        assert decision.allowed
        remaining.append(decision.remaining)
    assert remaining == [2, 1, 0]
    denied, unchanged = gcra(tat, now, limit=3, period_s=60)
    assert not denied.allowed and unchanged is None
    assert denied.retry_after_s == pytest.approx(20.0)
    assert denied.reset_after_s == pytest.approx(60.0)
    later, tat = gcra(tat, now + 20.0, limit=3, period_s=60)
    assert later.allowed and later.remaining == 0
    full, _ = gcra(tat, now + 1000.0, limit=3, period_s=60)
    assert full.allowed and full.remaining == 2


def check_limited(resp: ClientResponse, body: dict[str, Any], limit: int) -> None:
    assert resp.status == 429, body
    assert body["error"]["code"] == "rate_limited"
    retry_after = int(resp.headers["Retry-After"])
    assert 1 <= retry_after <= 60 // limit + 1
    assert body["error"]["details"]["retry_after_s"] == retry_after
    assert resp.headers["X-RateLimit-Limit"] == str(limit)
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert int(resp.headers["X-RateLimit-Reset"]) >= int(time.time())


async def test_embedded_limits_each_key_in_process(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    settings = make_settings(tmp_path, database_url=backend, api={"requests_per_minute": 3})
    client = await client_for(settings)
    made = await new_merchant(client)
    auth = bearer(made.api_key.token)
    seen = []
    for path in ("/api/v1/products", "/api/v1/products/999", "/api/v1/keys"):
        resp = await client.get(path, headers=auth)
        assert resp.status in (200, 404)
        seen.append(resp.headers["X-RateLimit-Remaining"])
        assert resp.headers["X-RateLimit-Limit"] == "3"
        reset = int(resp.headers["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 61
    assert seen == ["2", "1", "0"]
    resp = await client.get("/api/v1/products", headers=auth)
    check_limited(resp, await resp.json(), 3)
    # another key has its own bucket; an unknown key is refused before any counting
    other = await new_merchant(client, "Other", "https://other.test/")
    resp = await client.get("/api/v1/products", headers=bearer(other.api_key.token))
    assert resp.status == 200 and resp.headers["X-RateLimit-Remaining"] == "2"
    resp = await client.get("/api/v1/products", headers=bearer("hub_nope_nope"))
    assert resp.status == 401 and "X-RateLimit-Limit" not in resp.headers


@pytest.mark.redis
@pytest.mark.postgres
async def test_production_limits_each_key_across_web_processes(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    client_for: ClientFactory,
    new_merchant: MerchantFactory,
) -> None:
    settings = make_settings(
        tmp_path,
        database_url=pg_url,
        redis_url=redis_url,
        profile="production",
        api={"requests_per_minute": 4},
    )
    one, two = await client_for(settings), await client_for(settings)
    made = await new_merchant(one)
    auth = bearer(made.api_key.token)
    remaining = []
    for client in (one, two, one, two):
        resp = await client.get("/api/v1/products", headers=auth)
        assert resp.status == 200
        remaining.append(resp.headers["X-RateLimit-Remaining"])
    assert remaining == ["3", "2", "1", "0"]
    for client in (one, two):
        resp = await client.get("/api/v1/products", headers=auth)
        check_limited(resp, await resp.json(), 4)
    import redis.asyncio as aioredis

    async with aioredis.from_url(redis_url) as r:
        keys = [k.decode() async for k in r.scan_iter("hub:ratelimit:*")]
        assert len(keys) == 1
        assert 0 < await r.pttl(keys[0]) <= 60_000


async def test_a_dead_redis_limits_each_process_on_its_own(
    tmp_path: Path, pg_url: str, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    settings = make_settings(
        tmp_path,
        database_url=pg_url,
        profile="production",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        api={"requests_per_minute": 1},
    )
    client = await client_for(settings)
    made = await new_merchant(client)
    first = await client.get("/api/v1/products", headers=bearer(made.api_key.token))
    assert first.status == 200  # the API stays up
    assert first.headers["X-RateLimit-Limit"] == "1"
    again = await client.get("/api/v1/products", headers=bearer(made.api_key.token))
    assert again.status == 429  # and the key is still limited, by this process
    assert int(again.headers["Retry-After"]) >= 1


async def test_zero_turns_the_limit_off(
    tmp_path: Path, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    client = await client_for(make_settings(tmp_path, api={"requests_per_minute": 0}))
    made = await new_merchant(client)
    for _ in range(5):
        resp = await client.get("/api/v1/products", headers=bearer(made.api_key.token))
        assert resp.status == 200 and "X-RateLimit-Limit" not in resp.headers
