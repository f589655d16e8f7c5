"""LINE push connector against the LINE contract server (retry keys honoured)."""

from __future__ import annotations

import json
import uuid

import pytest

from connectors import AuthExpired, Misconfigured, OutcomeUnknown, PermanentError, RateLimited
from connectors.line import retry_key
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import line as ln

KIND = "line"
KEY = "share-7.account-3"


async def test_push_is_one_flex_bubble_with_a_retry_key(channel: Channel) -> None:
    card = make_card(image_url="https://cdn.example/mug.jpg")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session, idempotency_key=KEY
    )
    request = channel.state.requests[-1]
    assert request.path == "/v2/bot/message/push"
    assert request.headers["Authorization"] == f"Bearer {ln.TOKEN}"
    assert request.headers["X-Line-Retry-Key"] == retry_key(KEY)
    assert uuid.UUID(retry_key(KEY)).version == 5 and retry_key(KEY) == retry_key(KEY)
    body = json.loads(request.body)
    assert body["to"] == ln.USER_ID and body["notificationDisabled"] is False
    (flex,) = body["messages"]
    bubble = flex["contents"]
    assert flex["type"] == "flex" and flex["altText"].endswith(LINK)
    assert bubble["hero"]["url"] == "https://cdn.example/mug.jpg"
    texts = [item["text"] for item in bubble["body"]["contents"]]
    assert texts[:2] == ["Blue <Mug> & Co", "12,50\xa0€"]  # flex text is literal, not markup
    button = bubble["footer"]["contents"][0]["action"]
    assert button == {"type": "uri", "label": "View", "uri": LINK}
    assert result.remote_id in channel.state.posts and result.raw["already_accepted"] is False


async def test_a_resend_with_the_same_key_is_the_original_post(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    first = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    again = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    assert len(channel.state.posts) == 1  # LINE sent nothing twice
    assert again.remote_id == first.remote_id
    assert again.raw["already_accepted"] is True
    assert again.raw["request_id"] == first.raw["request_id"]  # X-Line-Accepted-Request-Id
    other = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="share-8.account-3"
    )
    assert other.remote_id != first.remote_id and len(channel.state.posts) == 2


async def test_timeout_with_a_key_is_safe_to_resend(channel: Channel) -> None:
    channel.state.delay_s = 1.0
    post = channel.connector.render(make_card(), LINK)
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            post, channel.config_with(read_timeout_s=0.1), channel.session, idempotency_key=KEY
        )
    assert info.value.retry_safe is True
    result = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    assert result.remote_id in channel.state.posts
    with pytest.raises(OutcomeUnknown) as info:  # without a key LINE cannot de-duplicate
        channel.state.delay_s = 1.0
        await channel.connector.publish(
            post, channel.config_with(read_timeout_s=0.1), channel.session
        )
    assert info.value.retry_safe is False
    assert "X-Line-Retry-Key" not in channel.state.requests[-1].headers


async def test_monthly_limit_is_not_a_rate_limit(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    channel.state.fail_next.append("monthly_limit")
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.code == "monthly_limit"
    channel.state.fail_next.append(429)
    with pytest.raises(RateLimited) as limited:
        await channel.connector.publish(post, channel.config, channel.session)
    assert limited.value.retry_after_s == 1.0


async def test_push_messages_cannot_be_retracted(channel: Channel) -> None:
    assert channel.connector.limits.can_delete is False
    with pytest.raises(PermanentError) as info:
        await channel.connector.delete("123", channel.config, channel.session)
    assert info.value.code == "delete_unsupported"
    assert not channel.state.requests  # nothing was called


async def test_http_image_has_no_hero_and_label_is_configurable(channel: Channel) -> None:
    card = make_card(image_url="http://cdn.example/mug.jpg")
    config = channel.config_with(button_label="詳しく見る")
    post = channel.connector.render(card, LINK)
    await channel.connector.publish(post, config, channel.session)
    bubble = json.loads(channel.state.requests[-1].body)["messages"][0]["contents"]
    assert "hero" not in bubble
    assert bubble["footer"]["contents"][0]["action"]["label"] == "詳しく見る"
    assert (
        post.payload["messages"][0]["contents"]["footer"]["contents"][0]["action"]["label"]
        == "View"
    )  # the rendered post is left as it was


async def test_unknown_destination_and_revoked_token(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    with pytest.raises(PermanentError):
        await channel.connector.publish(
            post, channel.config_with(to=ln.UNKNOWN_USER_ID), channel.session
        )
    revoked = channel.config_with(channel_access_token=ln.REVOKED_TOKEN)
    with pytest.raises(AuthExpired) as info:
        await channel.connector.check_credentials(revoked, channel.session)
    assert ln.REVOKED_TOKEN not in str(info.value)


def test_overlong_link_is_refused_at_render() -> None:
    from connectors import get

    with pytest.raises(PermanentError) as info:
        get(KIND).render(make_card(), "https://go.example/" + "a" * 1000)
    assert info.value.code == "link_too_long"
