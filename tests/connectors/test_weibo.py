"""Weibo statuses/share: safe domain, Weibo's own length count, topics, picture, errors."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

import connectors
from connectors import AuthExpired, Misconfigured, PermanentError
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import weibo as wb

KIND = "weibo"


async def test_share_is_form_encoded_with_rip_and_returns_the_status_id(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)
    request = channel.state.requests[-1]
    assert request.path == "/2/statuses/share.json"
    fields = parse_qs(request.body.decode())
    assert fields["rip"] == ["211.156.0.1"] and fields["access_token"] == [wb.TOKEN]
    assert fields["status"][0].endswith(LINK) and "#" not in fields["status"][0]
    stored = channel.state.posts[result.remote_id]
    assert result.remote_url == f"https://weibo.com/{wb.USER['idstr']}/{stored['mid']}"


async def test_picture_goes_multipart(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/assets/mug.jpg")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    assert channel.state.requests[-1].headers["Content-Type"].startswith("multipart/form-data")
    assert "original_pic" in channel.state.posts[result.remote_id]


async def test_link_outside_the_safe_domain_is_refused_before_sending(channel: Channel) -> None:
    post = channel.connector.render(make_card(), "https://elsewhere.example/x")
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.code == "link_not_in_safe_domain" and not channel.state.requests


async def test_identical_text_again_is_the_duplicate_error(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(PermanentError) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.code == "20019" and info.value.code in connectors.weibo.DUPLICATE_CODES


async def test_expired_token(channel: Channel) -> None:
    config = channel.config_with(access_token=wb.EXPIRED_TOKEN)
    with pytest.raises(AuthExpired, match="expired_token"):
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )


def test_length_is_weibo_half_units_and_topics_never_appear() -> None:
    connector = connectors.get("weibo")
    post = connector.render(make_card(title="#热卖# 青いマグ", description="陶器" * 500), LINK)
    status = str(post.payload["status"])
    assert wb.weibo_length(status) <= 280 and wb.check_text(status) is None
    assert status.startswith("热卖 青いマグ") and status.endswith(LINK)
    assert wb.check_text("#话题# " + LINK) == 10017  # the contract would refuse a topic
