"""X API v2 connector against the X contract server."""

from __future__ import annotations

import json
import time

import pydantic
import pytest

import connectors
from connectors import (
    AuthExpired,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    RenderedPost,
)
from connectors._http import Reply
from connectors.x import _retry_after, tweet_length
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import x as xa

KIND = "x"


async def test_post_is_signed_with_oauth1_and_answers_201(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    request = channel.state.requests[-1]
    assert request.path == "/2/tweets" and request.method == "POST"
    header = request.headers["Authorization"]
    assert header.startswith("OAuth ") and 'oauth_signature_method="HMAC-SHA1"' in header
    assert xa.CONSUMER_SECRET not in header and xa.ACCESS_TOKEN_SECRET not in header
    sent = json.loads(request.body)
    assert sent == {"text": post.text} and sent["text"].endswith(LINK)
    assert result.remote_id in channel.state.posts
    assert result.remote_url == f"https://x.com/i/web/status/{result.remote_id}"


async def test_each_request_gets_a_fresh_nonce(channel: Channel) -> None:
    # The contract refuses a repeated nonce, so two calls in a row must both pass.
    await channel.connector.check_credentials(channel.config, channel.session)
    await channel.connector.check_credentials(channel.config, channel.session)
    assert len(channel.state.idempotency["nonces"]) == 2


async def test_oauth2_user_token_is_a_bearer(channel: Channel) -> None:
    config = channel.connector.parse_config(
        {"oauth2_token": xa.OAUTH2_TOKEN, "base_url": channel.url}
    )
    await channel.connector.publish(
        channel.connector.render(make_card(), LINK), config, channel.session
    )
    assert channel.state.requests[-1].headers["Authorization"] == f"Bearer {xa.OAUTH2_TOKEN}"


async def test_app_only_token_cannot_post(channel: Channel) -> None:
    config = channel.connector.parse_config(
        {"oauth2_token": xa.APP_ONLY_TOKEN, "base_url": channel.url}
    )
    with pytest.raises(Misconfigured):
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    revoked = channel.connector.parse_config(
        {"oauth2_token": xa.REVOKED_OAUTH2_TOKEN, "base_url": channel.url}
    )
    with pytest.raises(AuthExpired):
        await channel.connector.check_credentials(revoked, channel.session)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"consumer_key": "k", "consumer_secret": "s", "access_token": "t"},
        {"oauth2_token": "o", "consumer_key": "k"},
    ],
)
def test_config_needs_exactly_one_scheme(data: dict[str, str]) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        connectors.get(KIND).parse_config(data)
    assert "s'" not in str(info.value) and "'o'" not in str(info.value)


def test_weighted_length_follows_twitter_text() -> None:
    assert tweet_length("a" * 280) == 280
    assert tweet_length("日" * 140) == 280  # CJK weighs 2
    assert tweet_length("👩‍👩‍👧‍👦🇯🇵👍🏽") == 6  # each emoji sequence weighs 2
    assert tweet_length("é—") == 2  # U+2014 is in a light range
    assert tweet_length("see https://shop.example/" + "a" * 200) == 4 + 23
    assert xa.weighted_length("see https://shop.example/" + "a" * 200) == 4 + 23


async def test_cjk_card_fits_280_weighted(channel: Channel) -> None:
    card = make_card(title="青い マグカップ", description="頑丈な陶器のマグカップ。" * 50)
    post = channel.connector.render(card, LINK)
    assert 140 < xa.weighted_length(post.text) <= 280
    assert len(post.text) < 200 and post.text.endswith(LINK)
    await channel.connector.publish(post, channel.config, channel.session)


async def test_duplicate_content_is_permanent(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(PermanentError) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.code == "duplicate_content"
    assert "duplicate content" in info.value.message
    assert len(channel.state.posts) == 1


async def test_server_refuses_text_over_280(channel: Channel) -> None:
    text = "日" * 141
    post = RenderedPost(kind=KIND, payload={"text": text}, text=text, text_limit=280, link=LINK)
    with pytest.raises(PermanentError) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.code == "text_too_long"


async def test_image_is_uploaded_and_attached(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/mug.png")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    upload = channel.state.requests[1]
    assert upload.path == "/2/media/upload"
    assert upload.headers["Authorization"].startswith("OAuth ")
    assert b'name="media_category"' in upload.body and b"tweet_image" in upload.body
    media_ids = channel.state.posts[result.remote_id]["media_ids"]
    assert len(media_ids) == 1 and result.raw["media_ids"] == media_ids


async def test_rate_limit_waits_until_the_reset(channel: Channel) -> None:
    channel.state.rate = (1, 30.0)
    await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(title="Other mug"), LINK),
            channel.config,
            channel.session,
        )
    assert 25 <= info.value.retry_after_s <= 32


def test_spent_24_hour_counter_wins_over_the_15_minute_window() -> None:
    now = int(time.time())
    headers = {
        "x-rate-limit-reset": str(now + 60),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(now + 3600),
    }
    assert 3590 <= (_retry_after(Reply(429, headers, b"")) or 0) <= 3600
    headers["x-user-limit-24hour-remaining"] = "3"
    assert 50 <= (_retry_after(Reply(429, headers, b"")) or 0) <= 60


async def test_timeout_after_sending_is_not_retry_safe(channel: Channel) -> None:
    channel.state.delay_s = 1.0
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK),
            channel.config_with(read_timeout_s=0.1),
            channel.session,
            idempotency_key="share-7.account-3",
        )
    assert info.value.retry_safe is False


async def test_delete_then_delete_again(channel: Channel) -> None:
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    await channel.connector.delete(result.remote_id, channel.config, channel.session)  # 404
    assert channel.state.deleted == [result.remote_id]
    with pytest.raises(PermanentError):
        await channel.connector.delete("12/../34", channel.config, channel.session)


async def test_unauthorized_is_auth_expired(channel: Channel) -> None:
    channel.state.fail_next.append(401)
    with pytest.raises(AuthExpired):
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )


async def test_a_wrong_signature_is_refused(channel: Channel) -> None:
    config = channel.config_with(consumer_secret="not-the-secret")
    with pytest.raises(AuthExpired):
        await channel.connector.check_credentials(config, channel.session)
