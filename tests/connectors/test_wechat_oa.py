"""WeChat Official Account: token sharing and refresh, picture upload, draft, publish, poll,
retract — against the contract server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

import connectors
from connectors import AuthExpired, MemoryTokenStore, PermanentError, TransientError
from connectors.wechat_oa import EARLY_REFRESH_S, WechatOAConnector
from tests.connectors.conftest import LINK, LOCAL_MEDIA, make_card
from tests.contract import wechat_oa as wx
from tests.contract._server import ContractState, serve


class Server:
    def __init__(self, url: str, state: ContractState, account: wx.Account) -> None:
        self.url, self.state, self.account = url, state, account

    def config(self, **overrides: Any) -> Any:
        values = {
            "appid": wx.APPID,
            "secret": wx.SECRET,
            "default_thumb_media_id": wx.THUMB_MEDIA_ID,
            "base_url": self.url,
        }
        return connectors.get("wechat_oa").parse_config({**values, **overrides})

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(r.body) for r in self.state.requests if r.path == f"/cgi-bin/{path}"]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state, account = ContractState(), wx.Account()
    async with serve(wx.create_app(state, account)) as url:
        yield Server(url, state, account)


@pytest.fixture
def connector() -> WechatOAConnector:
    return WechatOAConnector(MemoryTokenStore()).with_media(LOCAL_MEDIA)


async def test_publish_uploads_the_picture_drafts_the_card_and_submits(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    card = make_card(image_url=f"{server.url}{wx.IMAGE_PATH}")
    result = await connector.publish(connector.render(card, LINK), server.config(), session)

    assert server.account.calls == [
        "material/add_material",
        "media/uploadimg",
        "draft/add",
        "freepublish/submit",
    ]
    article = server.bodies("draft/add")[0]["articles"][0]
    assert article["thumb_media_id"].startswith("MATERIAL_")
    assert article["content_source_url"] == LINK
    assert article["content"].startswith('<p><img src="http://mmbiz.qpic.cn/')
    assert "Blue &lt;Mug&gt; &amp; Co" not in article["content"]  # the title is the title
    assert article["title"] == "Blue <Mug> & Co" and len(article["digest"]) <= 128
    assert "12,50" in article["digest"] and LINK.replace("&", "&amp;") in article["content"]
    stored = server.state.posts[result.raw["publish_id"]]
    assert stored["content"] == article["content"]  # mmbiz image kept
    assert result.remote_id == f"publish:{result.raw['publish_id']}"


async def test_bodies_are_utf8_without_unicode_escapes(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    card = make_card(title="青い マグカップ", description="頑丈な陶器。", currency="CNY")
    await connector.publish(connector.render(card, LINK), server.config(), session)
    raw = next(r.body for r in server.state.requests if r.path == "/cgi-bin/draft/add")
    assert "青い マグカップ".encode() in raw and b"\\u" not in raw


async def test_titles_count_characters_not_bytes(connector: WechatOAConnector) -> None:
    post = connector.render(make_card(title="青" * 40, description="陶" * 30000), LINK)
    article = post.payload["article"]
    assert len(article["title"]) <= 32 and len(article["title"].encode()) > 32
    assert wx.check_article(article) is None and len(article["content"]) < 20_000


async def test_poll_walks_publishing_to_published_then_retract(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    server.account.publishing_polls = 2
    config = server.config()
    submitted = await connector.publish(connector.render(make_card(), LINK), config, session)
    with pytest.raises(TransientError):  # not retractable while publishing
        await connector.delete(submitted.remote_id, config, session)
    assert await connector.poll(submitted.remote_id, config, session) is None
    published = await connector.poll(submitted.remote_id, config, session)
    assert published is not None and published.remote_id.startswith("article:ARTICLE_")
    assert published.remote_url == f"https://mp.weixin.qq.com/s/{published.raw['article_id']}"

    await connector.delete(published.remote_id, config, session)
    await connector.delete(published.remote_id, config, session)  # gone counts as deleted
    assert server.state.deleted == [published.raw["article_id"]]


@pytest.mark.parametrize("status", [2, 3, 4, 6])
async def test_failed_publish_is_permanent(
    status: int, server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    server.account.final_status = status
    config = server.config()
    submitted = await connector.publish(connector.render(make_card(), LINK), config, session)
    with pytest.raises(PermanentError) as info:
        await connector.poll(submitted.remote_id, config, session)
    assert info.value.code == f"publish_status_{status}"
    await connector.delete(submitted.remote_id, config, session)  # nothing to retract


async def test_one_token_for_many_calls_and_one_refresh_after_expiry(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    server.account.token_delay_s = 0.2
    config, post = server.config(), connector.render(make_card(), LINK)
    await asyncio.gather(*(connector.publish(post, config, session) for _ in range(8)))
    assert server.account.token_fetches == 1

    server.account.expire_tokens()
    await asyncio.gather(*(connector.publish(post, config, session) for _ in range(8)))
    assert server.account.token_fetches == 2
    assert len(server.state.posts) == 16
    expired = [r for r in server.state.requests if r.path == "/cgi-bin/stable_token"]
    assert all(json.loads(r.body)["force_refresh"] is False for r in expired)


async def test_token_is_refreshed_early(server: Server, session: aiohttp.ClientSession) -> None:
    now = [1000.0]
    connector = WechatOAConnector(MemoryTokenStore(clock=lambda: now[0]))
    config, post = server.config(), connector.render(make_card(), LINK)
    await connector.publish(post, config, session)
    now[0] += wx.LIFETIME_S - EARLY_REFRESH_S - 1
    await connector.publish(post, config, session)
    assert server.account.token_fetches == 1
    now[0] += 2  # inside the last five minutes: fetch before WeChat would refuse it
    await connector.publish(post, config, session)
    assert server.account.token_fetches == 2


async def test_a_token_rejected_twice_is_auth_expired(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    config, post = server.config(), connector.render(make_card(), LINK)
    await connector.publish(post, config, session)
    server.account.lifetime_s = 0  # from now on every token is born expired
    server.account.expire_tokens()
    with pytest.raises(AuthExpired):
        await connector.publish(post, config, session)
    assert server.account.token_fetches == 2  # one refresh, one retry, then give up
    assert server.account.calls.count("draft/add") == 3


async def test_big_picture_is_the_cover_only_and_missing_picture_falls_back(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    big = make_card(image_url=f"{server.url}{wx.BIG_IMAGE_PATH}")
    await connector.publish(connector.render(big, LINK), server.config(), session)
    assert "media/uploadimg" not in server.account.calls  # over 1 MB: cover only
    gone = make_card(image_url=f"{server.url}{wx.MISSING_IMAGE_PATH}")
    await connector.publish(connector.render(gone, LINK), server.config(), session)
    assert server.bodies("draft/add")[-1]["articles"][0]["thumb_media_id"] == wx.THUMB_MEDIA_ID
    with pytest.raises(PermanentError) as info:
        await connector.publish(
            connector.render(gone, LINK), server.config(default_thumb_media_id=None), session
        )
    assert info.value.code == "image_unavailable"


async def test_contract_refuses_escaped_json_and_unknown_covers(
    server: Server, connector: WechatOAConnector, session: aiohttp.ClientSession
) -> None:
    await connector.check_credentials(server.config(), session)
    token = server.account.current
    url = f"{server.url}/cgi-bin/draft/add?access_token={token}"
    article = {
        **connector.render(make_card(price=Decimal("1"), currency="CNY"), LINK).payload["article"],
        "thumb_media_id": wx.THUMB_MEDIA_ID,
        "title": "青",
    }
    async with session.post(url, json={"articles": [article]}) as reply:  # ensure_ascii=True
        assert (await reply.json())["errcode"] == 40033
    article["thumb_media_id"] = "NOT_PERMANENT"
    async with session.post(
        url,
        data=json.dumps({"articles": [article]}, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    ) as reply:
        assert (await reply.json())["errcode"] == 40007
