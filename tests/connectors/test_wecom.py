"""WeCom group robot (news, markdown, text) against its contract server."""

from __future__ import annotations

import json

import pytest

import connectors
from connectors import Misconfigured, RateLimited
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import wecom as wc

KIND = "wecom"


async def test_news_card_with_picture_and_tracked_link(channel: Channel) -> None:
    card = make_card(image_url="https://cdn.example/mug.jpg")
    await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )

    request = channel.state.requests[-1]
    assert request.path == "/cgi-bin/webhook/send" and request.query == f"key={wc.KEY}"
    article = json.loads(request.body)["news"]["articles"][0]
    assert article == {
        "title": "Blue <Mug> & Co",
        "description": article["description"],
        "url": LINK,
        "picurl": "https://cdn.example/mug.jpg",
    }
    assert article["description"].startswith("12,50\xa0€\nA sturdy stoneware mug")
    assert list(channel.state.posts.values())[0]["news"]["articles"][0] == article  # uncut


def test_limits_are_utf8_bytes_and_nothing_is_cut_by_wecom() -> None:
    news = connectors.get("wecom").render(
        make_card(title="青い" * 100, description="陶器" * 400), LINK
    )
    article = news.payload["news"]["articles"][0]
    assert len(article["title"].encode()) <= 128 < len(article["title"]) * 3 + 3
    assert len(article["description"].encode()) <= 512 and article["description"].endswith(LINK)
    text = connectors.get("wecom_text").render(make_card(description="陶器" * 2000), LINK)
    content = text.payload["text"]["content"]
    assert 2048 - 3 <= len(content.encode()) <= 2048 and len(content) < 1000  # bytes, not chars
    markdown = connectors.get("wecom_markdown").render(make_card(description="陶" * 3000), LINK)
    assert len(markdown.payload["markdown"]["content"].encode()) <= 4096


def test_markdown_cannot_mention_or_format_from_card_text() -> None:
    card = make_card(title="<@all> **SALE** [x](https://evil.example)", description="# big")
    content = connectors.get("wecom_markdown").render(card, LINK).payload["markdown"]["content"]
    assert content.startswith("**＜@all＞ ＊＊SALE＊＊ ［x］(https://evil.example)**")
    assert "\n＃ big" in content and f"[{LINK}]({LINK})" in content


@pytest.mark.parametrize("channel", ["wecom_text"], indirect=True)
async def test_text_mentions_and_utf8_body(channel: Channel) -> None:
    config = channel.config_with(mentioned_list=["zhangsan", "@all"])
    card = make_card(title="青いマグ")
    await channel.connector.publish(channel.connector.render(card, LINK), config, channel.session)
    raw = channel.state.requests[-1].body
    assert "青いマグ".encode() in raw and b"\\u" not in raw
    assert json.loads(raw)["text"]["mentioned_list"] == ["zhangsan", "@all"]


async def test_the_21st_message_in_a_minute_is_rate_limited(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    for _ in range(wc.RATE_PER_MINUTE):
        await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.retry_after_s == 60


async def test_whole_webhook_url_is_accepted_and_a_removed_key_is_misconfigured(
    channel: Channel,
) -> None:
    config = channel.config_with(key=wc.webhook_url())
    assert config.key.get_secret_value() == wc.KEY
    refused = channel.config_with(key=wc.webhook_url(wc.REVOKED_KEY))
    with pytest.raises(Misconfigured) as info:  # errcode 93000 under HTTP 200
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), refused, channel.session
        )
    assert info.value.code == "93000" and "invalid webhook url" in info.value.message
