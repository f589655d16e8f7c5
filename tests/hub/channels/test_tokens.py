"""Shared access tokens in Redis: single flight across coroutines and across worker
processes, early refresh, refresh once on a rejected token."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

import connectors
from connectors import FreshToken, MemoryTokenStore
from hub.channels.tokens import RedisTokenStore, bind_token_store
from tests.contract import wechat_oa as wx
from tests.contract._server import ContractState, serve

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Counter:
    def __init__(self, delay_s: float = 0.05) -> None:
        self.calls = 0
        self.delay_s = delay_s

    async def __call__(self) -> FreshToken:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return FreshToken(f"token-{self.calls}", 60.0)


async def test_get_set_with_expiry(redis: Redis) -> None:
    store = RedisTokenStore(redis)
    assert await store.get("k") is None
    await store.set("k", "v", 0.2)
    assert await store.get("k") == "v"
    assert 0 < await redis.pttl("hub:k") <= 200
    await asyncio.sleep(0.3)
    assert await store.get("k") is None
    with pytest.raises(ValueError):
        await store.set("k", "v", 0)


async def test_many_callers_one_refresh_then_one_refresh_for_a_stale_token(
    redis: Redis, redis_url: str
) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(3)]  # three "workers"
    stores = [RedisTokenStore(client) for client in clients]
    refresh = Counter()
    try:
        first = await asyncio.gather(
            *(stores[i % 3].get_or_refresh("wx", refresh) for i in range(30))
        )
        assert set(first) == {"token-1"} and refresh.calls == 1
        again = await asyncio.gather(
            *(stores[i % 3].get_or_refresh("wx", refresh, stale="token-1") for i in range(30))
        )
        assert set(again) == {"token-2"} and refresh.calls == 2
        assert await stores[0].get_or_refresh("wx", refresh) == "token-2"
        assert refresh.calls == 2
        assert await redis.get("hub:wx:refresh-lock") is None  # released
    finally:
        for client in clients:
            await client.aclose()


async def test_a_failed_refresher_hands_over(redis: Redis) -> None:
    store = RedisTokenStore(redis, poll_s=0.01)
    attempts = 0

    async def flaky() -> FreshToken:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.05)
        if attempts == 1:
            raise connectors.TransientError("system busy")
        return FreshToken("good", 60.0)

    results = await asyncio.gather(
        store.get_or_refresh("wx", flaky), store.get_or_refresh("wx", flaky), return_exceptions=True
    )
    assert sorted(map(str, results)) == ["good", "system busy"]
    assert attempts == 2


async def test_a_dead_refresher_lock_expires_and_followers_give_up_in_time(redis: Redis) -> None:
    await redis.set("hub:wx:refresh-lock", "someone-else", px=150)
    store = RedisTokenStore(redis, poll_s=0.01)
    assert await store.get_or_refresh("wx", Counter(0)) == "token-1"  # took over after 150 ms
    await redis.set("hub:other:refresh-lock", "stuck", px=10_000)
    impatient = RedisTokenStore(redis, poll_s=0.01, wait_s=0.1)
    with pytest.raises(TimeoutError):
        await impatient.get_or_refresh("other", Counter(0))
    assert await redis.get("hub:other:refresh-lock") == b"stuck"  # not ours: left alone


def test_bind_token_store_only_touches_token_users() -> None:
    store = MemoryTokenStore()
    wechat = bind_token_store(connectors.get("wechat_oa"), store)
    assert wechat is not connectors.get("wechat_oa") and wechat._tokens is store  # type: ignore[attr-defined]
    assert bind_token_store(connectors.get("wecom"), store) is connectors.get("wecom")


async def _run_workers(url: str, redis_url: str, n: int, store: str, parties: int = 2) -> list[str]:
    barrier = Path(tempfile.mkdtemp(prefix="barrier-"))
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.hub.channels._publisher",
            url,
            redis_url,
            str(n),
            store,
            str(barrier),
            str(parties),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(parties)
    ]
    ids: list[str] = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()
        ids += json.loads(out.decode().strip().splitlines()[-1])
    return ids


@pytest.mark.slow
async def test_two_worker_processes_fetch_the_token_once_and_refresh_it_once(
    redis_url: str,
) -> None:
    account = wx.Account(token_delay_s=0.3)  # a slow token endpoint widens the race
    state = ContractState()
    async with serve(wx.create_app(state, account)) as url:
        ids = await _run_workers(url, redis_url, 5, "redis")
        assert len(set(ids)) == 10 and len(state.posts) == 10
        assert account.token_fetches == 1

        account.expire_tokens()  # every call now answers 42001 until a refresh
        ids = await _run_workers(url, redis_url, 5, "redis")
        assert len(set(ids)) == 10 and len(state.posts) == 20
        assert account.token_fetches == 2
        assert account.calls.count("draft/add") == 20 + 2  # each process retried once


@pytest.mark.slow
async def test_control_without_a_shared_store_the_workers_stampede(redis_url: str) -> None:
    account = wx.Account(token_delay_s=0.3)
    async with serve(wx.create_app(ContractState(), account)) as url:
        await _run_workers(url, redis_url, 2, "memory")
    assert account.token_fetches == 2


def test_account_config_hands_the_shared_store_to_token_keeping_connectors() -> None:
    from hub.channels.accounts import account_config
    from hub.security import Vault
    from hub.storage.models import ChannelAccount

    vault = Vault("s" * 48)
    row = ChannelAccount(
        id=7,
        merchant_id=3,
        kind="wechat_oa",
        name="oa",
        settings={"default_thumb_media_id": "thumb"},
        credentials_encrypted=vault.encrypt_json({"appid": wx.APPID, "secret": wx.SECRET}),
    )
    store = MemoryTokenStore()
    shared = account_config(vault, row, tokens=store)
    assert shared.connector._tokens is store  # type: ignore[attr-defined]
    own = account_config(vault, row)
    assert own.connector._tokens is not store  # type: ignore[attr-defined]
