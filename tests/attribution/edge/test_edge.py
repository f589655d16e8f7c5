"""The edge over HTTP on the embedded profile (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub.config import Settings
from hub.storage.db import create_engine, session_factory
from hub.storage.models import Click, Visitor
from hub.web.keys import EDGE, SESSIONS
from tests.attribution.edge.conftest import Seeded, clicks, count_clicks, previews
from tests.conftest import ClientFactory, bearer, make_settings

Client = TestClient[Any, Any]
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x1800282c) NetType/WIFI"
)
SeedFactory = Callable[..., Awaitable[Seeded]]


@pytest.fixture
def edge_settings(tmp_path: Path, backend: str) -> Settings:
    return make_settings(tmp_path, database_url=backend, edge={"flush_every_s": 0.05})


async def eventually(
    probe: Callable[[], Awaitable[Any]], expected: Any, timeout_s: float = 5
) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if value == expected or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


async def get(client: Client, path: str, ua: str = CHROME, **headers: str) -> Any:
    client.session.cookie_jar.clear()  # each request says itself what cookie it has
    return await client.get(path, allow_redirects=False, headers={"User-Agent": ua, **headers})


async def test_person_redirect_cookie_and_click_id(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    resp = await get(client, "/" + seeded.code, Referer="https://t.me/shopchannel")
    assert resp.status == 302
    location = resp.headers["Location"]
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "shop.test", "/p/mug")
    query = parse_qs(parts.query)
    assert query["utm_source"] == ["telegram"] and query["utm_medium"] == ["social"]
    assert query["color"] == ["blue"]
    click_id = query["hub_cid"][0]
    assert len(click_id) >= 20
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("hub_vid=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=63072000"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here
    assert resp.headers["Cache-Control"] == "no-store"
    visitor = cookie.split(";")[0].split("=", 1)[1]

    # The same visitor again: no new cookie, a new click id, the same visitor id.
    again = await get(client, "/" + seeded.code, Cookie=f"other=1; hub_vid={visitor}")
    assert again.status == 302 and "Set-Cookie" not in again.headers
    click_id_2 = parse_qs(urlsplit(again.headers["Location"]).query)["hub_cid"][0]
    assert click_id_2 != click_id
    # A forged cookie value is replaced.
    forged = await get(client, "/" + seeded.code, Cookie='hub_vid="<script>"')
    assert forged.headers["Set-Cookie"].startswith("hub_vid=")
    # Behind TLS (said by the proxy) the cookie is Secure.
    secure = await get(client, "/" + seeded.code, **{"X-Forwarded-Proto": "https"})
    assert "; Secure" in secure.headers["Set-Cookie"]

    assert await eventually(lambda: count_clicks(client), 4) == 4
    rows = await clicks(client)
    assert [r.click_id for r in rows[:2]] == [click_id, click_id_2]
    assert rows[0].visitor_id == rows[1].visitor_id == visitor
    assert [r.is_unique for r in rows] == [True, False, True, True]
    assert rows[0].referrer == "https://t.me/shopchannel"
    assert rows[0].ip == "127.0.0.0"  # truncated to /24
    assert rows[0].user_agent == CHROME and not rows[0].is_bot
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        n = (await session.execute(select(func.count()).select_from(Visitor))).scalar_one()
    assert n == 3


async def test_wechat_person_or_card_fetcher(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    # No cookie, no referrer: the card fetcher or a person. The card, a cookie, a refresh.
    resp = await get(client, "/" + seeded.code, ua=WECHAT)
    assert resp.status == 200 and "Set-Cookie" in resp.headers
    html = await resp.text()
    assert f'<meta http-equiv="refresh" content="0;url=/{seeded.code}">' in html
    assert '<meta property="og:title"' in html
    assert '<img src="https://cdn.shop.test/mug.jpg"' in html
    # A person's browser follows the refresh with the cookie: a redirect and a click.
    cookie = resp.headers["Set-Cookie"].split(";")[0]
    again = await get(client, "/" + seeded.code, ua=WECHAT, Cookie=cookie)
    assert again.status == 302 and "Set-Cookie" not in again.headers
    # With a referrer it is a person at once.
    direct = await get(client, "/" + seeded.code, ua=WECHAT, Referer="https://mp.weixin.qq.com/")
    assert direct.status == 302
    assert await eventually(lambda: count_clicks(client, is_bot=False), 2) == 2
    expected = [(seeded.link["id"], "wechat", 1)]
    assert await eventually(lambda: previews(client), expected) == expected
    rows = await clicks(client)
    assert rows[0].visitor_id == cookie.split("=", 1)[1]


async def test_bots_are_redirected_and_stored_as_bots(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    for ua in (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.4.0",
        "",
    ):
        resp = await get(client, "/" + seeded.code, ua=ua)
        assert resp.status == 302 and "Set-Cookie" not in resp.headers
        assert resp.headers["Location"].startswith("https://shop.test/p/mug?")
    assert await eventually(lambda: count_clicks(client, is_bot=True), 3) == 3
    assert await count_clicks(client, is_bot=False) == 0


async def test_previews_get_the_card_and_count_apart(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    mastodon = "http.rb/5.1.1 (Mastodon/4.2.1; +https://mastodon.social/) Bot"
    for ua in (mastodon, mastodon, "TelegramBot (like TwitterBot)"):
        resp = await get(client, "/" + seeded.code, ua=ua)
        assert resp.status == 200 and "Set-Cookie" not in resp.headers
    html = await resp.text()
    assert resp.content_type == "text/html"
    assert (
        '<meta property="og:title" content="Mug &quot;Blue&quot; &lt;b&gt;&amp;&lt;/b&gt;">' in html
    )
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<meta property="og:image" content="https://cdn.shop.test/mug.jpg">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert '<meta property="product:price:amount" content="24.50">' in html
    assert '<meta property="product:price:currency" content="USD">' in html
    assert '<meta property="og:url" content="https://shop.test/p/mug?color=blue&amp;' in html
    got = await eventually(
        lambda: previews(client),
        [(seeded.link["id"], "mastodon", 2), (seeded.link["id"], "telegram", 1)],
    )
    assert sorted(got) == [(seeded.link["id"], "mastodon", 2), (seeded.link["id"], "telegram", 1)]
    assert await count_clicks(client) == 0


async def test_unknown_codes_404_and_are_cached(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    resp = await get(client, "/NoSuchCode9")
    assert resp.status == 404 and resp.content_type == "text/html"
    assert "Link not found" in await resp.text()
    app = client.server.app
    assert app is not None
    assert app[EDGE].cache.get("NoSuchCode9") == (True, None)  # negative cache
    # A slug created after it was asked for works at once in this process.
    headers = bearer(seeded.token)
    resp = await client.post("/api/v1/links", json={"slug": "NoSuchCode9"}, headers=headers)
    assert resp.status == 201
    assert (await get(client, "/NoSuchCode9")).status == 302
    # Not a code at all: the router's 404, nothing resolved.
    assert (await get(client, "/favicon.ico")).status == 404
    assert (await get(client, "/a/b")).status == 404


async def test_disabled_and_expired_links_are_gone(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    headers = bearer(seeded.token)
    assert (await get(client, "/" + seeded.code)).status == 302
    resp = await client.patch(
        f"/api/v1/links/{seeded.code}", json={"enabled": False}, headers=headers
    )
    assert resp.status == 200
    for ua in (CHROME, "TelegramBot (like TwitterBot)"):
        resp = await get(client, "/" + seeded.code, ua=ua)
        assert resp.status == 410 and "no longer available" in await resp.text()
    await client.patch(f"/api/v1/links/{seeded.code}", json={"enabled": True}, headers=headers)
    assert (await get(client, "/" + seeded.code)).status == 302
    await client.patch(
        f"/api/v1/links/{seeded.code}", json={"expires_at": "2001-01-01T00:00:00Z"}, headers=headers
    )
    assert (await get(client, "/" + seeded.code)).status == 410
    resp = await client.post(
        "/api/v1/links", json={"expires_at": "2001-01-01T00:00:00Z"}, headers=headers
    )
    assert (await get(client, "/" + (await resp.json())["code"])).status == 410


async def test_head_records_nothing(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    client = await client_for(edge_settings)
    seeded = await seeded_factory(client)
    resp = await client.head(
        "/" + seeded.code, allow_redirects=False, headers={"User-Agent": CHROME}
    )
    assert resp.status == 302 and "Set-Cookie" not in resp.headers
    assert resp.headers["Location"].startswith("https://shop.test/")
    await get(client, "/" + seeded.code)
    assert await eventually(lambda: count_clicks(client), 1) == 1
    await asyncio.sleep(0.2)
    assert await count_clicks(client) == 1


async def test_embedded_profile_flushes_on_shutdown(
    tmp_path: Path, backend: str, client_for: ClientFactory, seeded_factory: SeedFactory
) -> None:
    settings = make_settings(
        tmp_path, database_url=backend, edge={"flush_every_s": 3600, "batch_max_events": 10_000}
    )
    client = await client_for(settings)
    seeded = await seeded_factory(client)
    for _ in range(25):
        assert (await get(client, "/" + seeded.code)).status == 302
    assert await count_clicks(client) == 0  # still in the buffer
    await client.close()
    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            n = (await session.execute(select(func.count()).select_from(Click))).scalar_one()
    finally:
        await engine.dispose()
    assert n == 25


async def test_edge_first_answers_as_the_router_would(
    client_for: ClientFactory, edge_settings: Settings, seeded_factory: SeedFactory
) -> None:
    """`hub serve` answers redirects before routing; every path gets what the router gives."""
    from aiohttp.test_utils import TestServer

    from hub.web import create_app

    fast = await client_for(edge_settings)  # client_for installs edge_first, as serving does
    seeded = await seeded_factory(fast)
    routed: Client = TestClient(TestServer(create_app(edge_settings)))
    await routed.start_server()
    try:
        paths = [
            f"/{seeded.code}",
            "/NoSuchCode9",
            "/healthz",
            "/readyz",
            "/dashboard",
            "/api",
            "/hooks",
            f"/{seeded.code}/",
            f"/{seeded.code}?utm_source=x",
            "/a%2Fb",
            "/ab",  # too short to be a code
            "/favicon.ico",
        ]
        for method in ("GET", "HEAD", "POST", "DELETE"):
            for path in paths:
                answers = []
                for client in (fast, routed):
                    client.session.cookie_jar.clear()
                    resp = await client.request(
                        method, path, allow_redirects=False, headers={"User-Agent": CHROME}
                    )
                    location = resp.headers.get("Location", "")
                    answers.append(
                        (
                            resp.status,
                            resp.content_type,
                            location.partition("hub_cid=")[0],
                            "hub_cid=" in location,
                            "Set-Cookie" in resp.headers,
                        )
                    )
                assert answers[0] == answers[1], (method, path, answers)
        assert (await get(fast, f"/{seeded.code}")).status == 302
        # Both ways record the click.
        assert await eventually(lambda: count_clicks(fast), 2 * 2 + 1) == 2 * 2 + 1
    finally:
        await routed.close()
