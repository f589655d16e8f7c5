"""A worker process for the token-sharing test: publishes N cards through the WeChat Official
Account connector against a contract server, sharing tokens through Redis (or, as the
control, through its own memory store).

    python -m tests.hub.channels._publisher BASE_URL REDIS_URL N redis|memory BARRIER PARTIES

Waits at a file barrier (a file per process in the directory BARRIER until there are PARTIES)
so the processes start publishing together, then prints one JSON line: the remote ids.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

import connectors
from connectors import MemoryTokenStore, TokenStore
from hub.channels.tokens import RedisTokenStore, bind_token_store
from tests.connectors.conftest import LINK, make_card
from tests.contract import wechat_oa as wx


async def main(
    base_url: str, redis_url: str, n: int, store: str, barrier: str, parties: int
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        tokens: TokenStore = RedisTokenStore(redis) if store == "redis" else MemoryTokenStore()
        connector = bind_token_store(connectors.get("wechat_oa"), tokens)
        config = connector.parse_config(
            {
                "appid": wx.APPID,
                "secret": wx.SECRET,
                "default_thumb_media_id": wx.THUMB_MEDIA_ID,
                "base_url": base_url,
            }
        )
        post = connector.render(make_card(), LINK)
        (Path(barrier) / str(os.getpid())).touch()
        while len(list(Path(barrier).iterdir())) < parties:
            await asyncio.sleep(0.005)
        async with aiohttp.ClientSession() as session:
            ids = [(await connector.publish(post, config, session)).remote_id for _ in range(n)]
        print(json.dumps(ids))
    finally:
        await redis.aclose()


if __name__ == "__main__":
    url, redis_url, n, store, barrier, parties = sys.argv[1:7]
    asyncio.run(main(url, redis_url, int(n), store, barrier, int(parties)))
