"""DingTalk custom robot: signature exactly as documented (URL-encoded once), link card,
security errors told apart by errmsg, the 10-minute throttle."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, quote_plus

import pytest
from yarl import URL

import connectors
from connectors import Misconfigured, RateLimited, TransientError
from connectors.dingtalk import sign, signed_query
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import dingtalk as dt
from tests.contract._server import ContractState, serve

KIND = "dingtalk"


def test_signature_keys_hmac_with_the_secret_over_timestamp_and_secret() -> None:
    assert sign("1599360473000", "SECxyz") == dt.expected_sign("1599360473000", "SECxyz")
    # computed independently: printf "1599360473000<LF>SECxyz" | openssl dgst -sha256
    #   -hmac "SECxyz" -binary | base64
    assert sign("1599360473000", "SECxyz") == "vv6sbUSJaOBbYOg/VuFRRyxaT87C8Yg3apWDtTHFD2A="
    query = signed_query("SECxyz", 1599360473000)
    assert query == "&timestamp=1599360473000&sign=vv6sbUSJaOBbYOg%2FVuFRRyxaT87C8Yg3apWDtTHFD2A%3D"


async def test_signed_link_card(channel: Channel) -> None:
    card = make_card(image_url="https://cdn.example/mug.jpg")
    await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    request = channel.state.requests[-1]
    query = parse_qs(request.query)
    assert query["access_token"] == [dt.TOKEN] and len(query["timestamp"][0]) == 13
    assert abs(int(query["timestamp"][0]) - time.time() * 1000) < 5000
    assert "sign" in query and len(channel.state.posts) == 1  # the contract checked it
    body = json.loads(request.body)
    assert body["msgtype"] == "link" and "timestamp" not in body
    assert body["link"]["messageUrl"] == LINK and body["link"]["picUrl"] == card.image_url
    assert body["link"]["title"] == "Blue <Mug> & Co" and body["link"]["text"].endswith(LINK)


async def _post_raw(channel: Channel, query: str) -> dict[str, Any]:
    body = json.dumps({"msgtype": "text", "text": {"content": "hi"}}).encode()
    # encoded=True: send the query exactly as written (no re-quoting by yarl)
    url = URL(f"{channel.url}/robot/send?access_token={dt.TOKEN}{query}", encoded=True)
    async with channel.session.post(
        url, data=body, headers={"Content-Type": "application/json"}
    ) as reply:
        return dict(await reply.json())


async def test_contract_checks_the_sign_byte_for_byte_after_one_decoding(channel: Channel) -> None:
    ts = str(int(time.time() * 1000))
    raw = dt.expected_sign(ts, dt.SECRET)
    once = await _post_raw(channel, f"&timestamp={ts}&sign={quote_plus(raw)}")
    assert once == {"errcode": 0, "errmsg": "ok"}
    twice = await _post_raw(channel, f"&timestamp={ts}&sign={quote_plus(quote_plus(raw))}")
    assert twice == {"errcode": 310000, "errmsg": "sign not match"}


async def test_clock_skew_is_transient_and_a_wrong_secret_is_misconfigured(
    state: ContractState, session: Any
) -> None:
    connector = connectors.get("dingtalk")
    post = connector.render(make_card(), LINK)
    async with serve(dt.create_app(state, clock_offset_s=-3700)) as url:
        config = connector.parse_config(
            {"access_token": dt.TOKEN, "secret": dt.SECRET, "base_url": url}
        )
        with pytest.raises(TransientError, match="310000_invalid_timestamp"):
            await connector.publish(post, config, session)
    async with serve(dt.create_app(ContractState())) as url:
        config = connector.parse_config(
            {"access_token": dt.TOKEN, "secret": dt.WRONG_SECRET, "base_url": url}
        )
        with pytest.raises(Misconfigured) as info:
            await connector.publish(post, config, session)
    assert info.value.code == "310000_sign_not_match"


async def test_keyword_robot(channel: Channel) -> None:
    config = channel.config_with(access_token=dt.webhook_url(dt.KEYWORD_TOKEN), secret=None)
    assert config.access_token.get_secret_value() == dt.KEYWORD_TOKEN
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    assert info.value.code == "310000_keywords_not_in_content"
    post = channel.connector.render(make_card(), LINK, f"{dt.KEYWORD} $title $price")
    await channel.connector.publish(post, config, channel.session)


async def test_the_21st_message_throttles_the_robot_for_ten_minutes(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    for _ in range(20):
        await channel.connector.publish(post, channel.config, channel.session)
    for _ in range(2):  # and it keeps refusing
        with pytest.raises(RateLimited) as info:
            await channel.connector.publish(post, channel.config, channel.session)
        assert info.value.retry_after_s == 600


def test_body_stays_under_20000_bytes_counting_escapes() -> None:
    card = make_card(description='"\\\n\x01陶' * 6000)
    post = connectors.get("dingtalk").render(card, LINK)
    size = len(json.dumps(dict(post.payload), ensure_ascii=False, separators=(",", ":")).encode())
    assert 19_000 < size <= 20_000 and post.payload["link"]["text"].endswith(LINK)
