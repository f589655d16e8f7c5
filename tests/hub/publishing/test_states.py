"""The lease and the state machine under concurrency, on SQLite and PostgreSQL; the buckets."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from hub.config import Settings
from hub.publishing.ratelimit import Bucket, LocalLimiter, RedisLimiter
from hub.publishing.states import InvalidTransition, TargetState, claim, move
from hub.storage.types import utcnow
from hub.web.keys import SESSIONS
from tests.conftest import ClientFactory, bearer, make_settings
from tests.hub.publishing.scenarios import POLICY_OFF, Hub, contract_servers


async def test_only_one_of_many_concurrent_claims_wins(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: Any
) -> None:
    settings: Settings = make_settings(tmp_path, database_url=backend, policy=POLICY_OFF)
    async with contract_servers() as channels:
        client = await client_for(settings)
        made = await new_merchant(client)
        hub = Hub(client, bearer(made.api_key.token), channels)
        share = await hub.share(
            await hub.product(), [await hub.channel("discord")], at="2099-01-01T00:00:00Z"
        )
    target_id = share["targets"][0]["id"]
    app = client.server.app
    assert app is not None
    sessions = app[SESSIONS]

    async def attempt(owner: str, **kw: Any) -> bool:
        async with sessions() as session:
            won = await claim(session, target_id, owner, 60, **kw)
            await session.commit()
            return won

    results = await asyncio.gather(*(attempt(f"w{i}") for i in range(6)))
    assert results.count(True) == 1
    assert not await attempt("late")  # leased: nobody else
    assert not await attempt("stale", stale=True)  # lease not expired yet
    later = utcnow() + timedelta(seconds=120)
    assert await attempt("stale", stale=True, now=later)  # expired: one takes it over
    async with sessions() as session:
        assert (
            await move(
                session,
                target_id,
                TargetState.PUBLISHED,
                reason=None,
                allowed_from={TargetState.PUBLISHING},
                lease_owner="w-other",
            )
            is None
        )
        assert await move(
            session,
            target_id,
            TargetState.PUBLISHED,
            reason=None,
            allowed_from={TargetState.PUBLISHING},
            lease_owner="stale",
        )
        with pytest.raises(InvalidTransition):
            await move(
                session,
                target_id,
                TargetState.SCHEDULED,
                reason=None,
                allowed_from={TargetState.PUBLISHED},
            )
        await session.commit()
    detail = await hub.get(share["id"])
    assert [e["to_state"] for e in detail["targets"][0]["events"]] == [
        "scheduled",
        "publishing",
        "publishing",
        "published",
    ]


async def _drain(limiter: Any, bucket: Bucket, n: int) -> list[float]:
    grants = [await limiter.acquire(bucket, 0.0) for _ in range(n)]
    return [g.wait_s for g in grants if g.reserved]


async def test_local_bucket_reserves_and_blocks() -> None:
    limiter = LocalLimiter()
    bucket = Bucket("a", count=2, window_s=1.0, burst=2)
    assert len(await _drain(limiter, bucket, 5)) == 2  # the burst, then nothing at once
    grant = await limiter.acquire(bucket, max_wait_s=1.0)
    assert grant.reserved and 0 < grant.wait_s <= 0.5
    await limiter.block("a", 5.0)
    blocked = await limiter.acquire(bucket, max_wait_s=1.0)
    assert not blocked.reserved and 4.0 < blocked.wait_s <= 5.0


async def test_redis_bucket_is_shared_by_every_client(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    try:
        limiters = [RedisLimiter(c) for c in clients]
        bucket = Bucket("shared", count=5, window_s=1.0, burst=1)
        started = time.monotonic()
        taken = 0
        while taken < 6:
            for limiter in limiters:
                grant = await limiter.acquire(bucket, max_wait_s=0.0)
                taken += grant.reserved
            await asyncio.sleep(0.01)
        assert time.monotonic() - started >= 0.95  # 1 + 5 more at 5/s, whoever asks
        await limiters[0].block("shared", 3.0)
        grant = await limiters[1].acquire(bucket, max_wait_s=10.0)
        assert not grant.reserved and 2.5 < grant.wait_s <= 3.0
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.parametrize("store", ["local", "redis"])
async def test_a_block_tells_each_refused_caller_why(store: str, request: Any) -> None:
    client = Redis.from_url(request.getfixturevalue("redis_url")) if store == "redis" else None
    try:
        limiter = RedisLimiter(client) if client is not None else LocalLimiter()
        bucket = Bucket("quota", count=5, window_s=1.0, burst=1)
        why = "quota: LINE monthly message limit reached; resumes 2026-12-01 00:00 JST"
        await limiter.block("quota", 30.0, why)
        first = await limiter.acquire(bucket, max_wait_s=10.0)
        assert not first.reserved and 29.0 < first.wait_s <= 30.0 and first.reason == why
        await limiter.block("quota", 5.0, "shorter")  # a shorter block changes nothing
        again = await limiter.acquire(bucket, max_wait_s=10.0)
        assert again.reason == why and again.wait_s > 28.0
        await limiter.block("other", 2.0)  # a plain 429 names no reason
        plain = await limiter.acquire(Bucket("other", count=5, window_s=1.0), max_wait_s=0.0)
        assert not plain.reserved and plain.reason is None
        free = await limiter.acquire(Bucket("free", count=5, window_s=1.0), max_wait_s=0.0)
        assert free.reserved and free.reason is None
    finally:
        if client is not None:
            await client.aclose()


@pytest.mark.parametrize("store", ["local", "redis"])
async def test_a_block_ends_with_one_call_allowed(store: str, request: Any) -> None:
    """At the end of a block (a quota that reset) the next call goes at once; the ones after
    it are paced as usual (here one an hour)."""
    client = Redis.from_url(request.getfixturevalue("redis_url")) if store == "redis" else None
    try:
        limiter = RedisLimiter(client) if client is not None else LocalLimiter()
        bucket = Bucket(f"reset-{store}", count=1, window_s=3600.0, burst=1)
        assert (await limiter.acquire(bucket, 0.0)).reserved  # the bucket's one token
        await limiter.block(bucket.key, 0.3, "quota: daily limit reached")
        assert not (await limiter.acquire(bucket, 0.0)).reserved
        await asyncio.sleep(0.4)
        first = await limiter.acquire(bucket, 0.0)
        assert first.reserved and first.wait_s == 0.0
        second = await limiter.acquire(bucket, 0.0)
        assert not second.reserved and 3500 < second.wait_s <= 3600
    finally:
        if client is not None:
            await client.aclose()
