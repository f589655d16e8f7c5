"""Discord webhook connector against the Discord contract server."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pydantic
import pytest

from connectors import RateLimited
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import discord as dc

KIND = "discord"


async def test_posts_one_embed_and_waits_for_the_message(channel: Channel) -> None:
    card = make_card(image_url="https://cdn.example/mug.jpg", title="T" * 300)
    post = channel.connector.render(card, LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    request = channel.state.requests[-1]
    assert request.path == f"/webhooks/{dc.WEBHOOK_ID}/{dc.TOKEN}"
    body = json.loads(request.body)
    assert body["allowed_mentions"] == {"parse": []}
    embed = body["embeds"][0]
    assert embed["url"] == LINK and embed["image"] == {"url": "https://cdn.example/mug.jpg"}
    assert len(embed["title"]) <= 256 and embed["title"].endswith("…")
    assert "Blue <Mug> & Co" not in embed["description"]  # title lives in the embed title
    assert LINK in embed["description"]
    assert result.remote_id in channel.state.posts
    assert result.remote_url == (
        f"https://discord.com/channels/{dc.GUILD_ID}/{dc.CHANNEL_ID}/{result.remote_id}"
    )


async def test_thread_and_username_are_passed(channel: Channel) -> None:
    config = channel.config_with(thread_id="555", username="Shop deals")
    await channel.connector.publish(
        channel.connector.render(make_card(), LINK), config, channel.session
    )
    request = channel.state.requests[-1]
    assert json.loads(request.body)["username"] == "Shop deals"
    assert dict(parse_qsl(request.query)) == {"wait": "true", "thread_id": "555"}


def test_reserved_usernames_are_refused() -> None:
    from connectors.discord import DiscordConfig

    with pytest.raises(pydantic.ValidationError):
        DiscordConfig.model_validate({"webhook_url": dc.webhook_url(), "username": "Discord Bot"})


async def test_delete_is_idempotent(channel: Channel) -> None:
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    await channel.connector.delete(result.remote_id, channel.config, channel.session)  # 10008
    assert channel.state.deleted == [result.remote_id]


async def test_rate_limit_prefers_the_precise_body_hint(channel: Channel) -> None:
    channel.state.fail_next.append(429)
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )
    assert info.value.retry_after_s == 2.5
