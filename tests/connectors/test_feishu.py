"""Feishu / Lark custom bot: signature exactly as documented, post messages, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

import connectors
from connectors import Misconfigured, PermanentError, RateLimited
from connectors.feishu import sign
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import feishu as fs
from tests.contract._server import ContractState, serve

KIND = "feishu"


def test_signature_keys_hmac_with_timestamp_and_secret_over_nothing() -> None:
    assert sign("1599360473", "secret") == fs.expected_sign("1599360473", "secret")
    key_is_secret = base64.b64encode(
        hmac.new(b"secret", b"1599360473\nsecret", hashlib.sha256).digest()
    ).decode()
    assert sign("1599360473", "secret") != key_is_secret  # the common mistake (19021)
    # computed independently: printf "" | openssl dgst -sha256 -hmac "1599360473<LF>secret" -binary
    assert sign("1599360473", "secret") == "q4jswNiMy51J5JuQV566yJat0/lQ/c+22kINzUgKsGU="


async def test_signed_post_message_with_link_node(channel: Channel) -> None:
    before = int(time.time())
    await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    request = channel.state.requests[-1]
    assert request.path == f"/open-apis/bot/v2/hook/{fs.TOKEN}" and not request.query
    body = json.loads(request.body)
    assert isinstance(body["timestamp"], str) and abs(int(body["timestamp"]) - before) <= 2
    assert body["sign"] == fs.expected_sign(body["timestamp"], fs.SECRET)
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == "Blue <Mug> & Co"
    assert [{"tag": "a", "text": LINK, "href": LINK}] in post["content"]


async def test_server_clock_an_hour_away_refuses_the_signature(
    state: ContractState, session: object
) -> None:
    connector = connectors.get("feishu")
    async with serve(fs.create_app(state, clock_offset_s=3700)) as url:
        config = connector.parse_config(
            {"webhook_url": fs.hook_url(), "secret": fs.SECRET, "base_url": url}
        )
        with pytest.raises(Misconfigured) as info:
            await connector.publish(connector.render(make_card(), LINK), config, session)  # type: ignore[arg-type]
    assert info.value.code == "19021"


async def test_unsigned_bot_and_keyword_bot(channel: Channel) -> None:
    unsigned = channel.config_with(webhook_url=fs.hook_url(fs.UNSIGNED_TOKEN), secret=None)
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, unsigned, channel.session)
    assert "sign" not in json.loads(channel.state.requests[-1].body)

    keyword_bot = channel.config_with(webhook_url=fs.hook_url(fs.KEYWORD_TOKEN), secret=None)
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(post, keyword_bot, channel.session)
    assert info.value.code == "19024"
    with_keyword = channel.connector.render(make_card(), LINK, f"{fs.KEYWORD}: $title $price")
    await channel.connector.publish(with_keyword, keyword_bot, channel.session)


async def test_more_than_five_a_second_is_frequency_limited(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    for _ in range(5):
        await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(RateLimited):
        await channel.connector.publish(post, channel.config, channel.session)


async def test_oversized_body_is_9499_with_http_400(channel: Channel) -> None:
    body = {"msg_type": "text", "content": {"text": "x" * 21_000}}
    with pytest.raises(PermanentError) as info:
        await channel.connector._send(body, channel.config, channel.session)  # type: ignore[attr-defined]
    assert info.value.code == "9499" and channel.state.requests[-1].body


def test_lark_hooks_use_the_lark_host() -> None:
    connector = connectors.get("feishu")
    config = connector.parse_config({"webhook_url": fs.hook_url(host="open.larksuite.com")})
    assert connector.base_url(config) == "https://open.larksuite.com"
    with pytest.raises(ValueError):
        connector.parse_config({"webhook_url": "https://evil.example/open-apis/bot/v2/hook/x"})
