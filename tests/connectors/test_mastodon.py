"""Mastodon connector against the Mastodon contract server."""

from __future__ import annotations

import asyncio
import json

import pytest

from connectors import (
    AuthExpired,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TextUnit,
    TransientError,
)
from connectors._text import measure
from connectors.mastodon import status_length
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import mastodon as md

KIND = "mastodon"
KEY = "share-7.account-3"


async def test_status_is_plain_text_with_idempotency_key(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    config = channel.config_with(visibility="unlisted", language="de")
    result = await channel.connector.publish(post, config, channel.session, idempotency_key=KEY)

    request = channel.state.requests[-1]
    assert request.path == "/api/v1/statuses"
    assert request.headers["Authorization"] == f"Bearer {md.TOKEN}"
    assert request.headers["Idempotency-Key"] == KEY
    sent = json.loads(request.body)
    assert sent["visibility"] == "unlisted" and sent["language"] == "de"
    assert sent["status"].startswith("Blue <Mug> & Co\n\n")  # plain text: nothing escaped
    assert sent["status"].endswith(LINK) and "12,50\xa0€" in sent["status"]
    assert result.remote_id in channel.state.posts
    assert result.remote_url == f"https://social.example/@shop/{result.remote_id}"


async def test_same_idempotency_key_posts_once(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    first = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    again = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    assert again.remote_id == first.remote_id
    assert len(channel.state.posts) == 1
    other = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="share-8.account-3"
    )
    assert other.remote_id != first.remote_id and len(channel.state.posts) == 2


async def test_idempotency_key_expires_after_an_hour(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    first = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    status_id, at = channel.state.idempotency["keys"][KEY]
    channel.state.idempotency["keys"][KEY] = (status_id, at - md.IDEMPOTENCY_TTL_S - 1)
    later = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    assert later.remote_id != first.remote_id and len(channel.state.posts) == 2


async def test_timeout_after_sending_is_retry_safe_and_resend_posts_once(
    channel: Channel,
) -> None:
    post = channel.connector.render(make_card(), LINK)
    channel.state.delay_s = 1.0
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            post, channel.config_with(read_timeout_s=0.1), channel.session, idempotency_key=KEY
        )
    assert info.value.retry_safe is True
    await asyncio.sleep(1.1)  # let the server finish whatever it was doing
    for _ in range(2):  # the reconciling resend, even twice, leaves one status
        await channel.connector.publish(post, channel.config, channel.session, idempotency_key=KEY)
    assert len(channel.state.posts) == 1


async def test_timeout_without_a_key_is_not_retry_safe(channel: Channel) -> None:
    channel.state.delay_s = 1.0
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK),
            channel.config_with(read_timeout_s=0.1),
            channel.session,
        )
    assert info.value.retry_safe is False


async def test_card_image_is_uploaded_then_attached(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/mug.png")
    post = channel.connector.render(card, LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    paths = [r.path for r in channel.state.requests]
    assert paths == ["/cdn/mug.png", "/api/v2/media", "/api/v1/statuses"]
    upload = channel.state.requests[1]
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert md.PNG in upload.body
    attached = channel.state.posts[result.remote_id]["media_attachments"]
    assert len(attached) == 1 and attached[0]["description"] == "Blue <Mug> & Co"
    assert result.raw["media_ids"] == [attached[0]["id"]]


async def test_async_media_processing_is_polled_once(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/processing.png")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    paths = [r.path for r in channel.state.requests]
    assert paths[1:3] == ["/api/v2/media", f"/api/v1/media/{result.raw['media_ids'][0]}"]
    assert channel.state.posts[result.remote_id]["media_attachments"]


async def test_media_still_processing_asks_to_wait(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/processing-slow.png")
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(
            channel.connector.render(card, LINK), channel.config, channel.session
        )
    assert info.value.retry_after_s == 5.0
    assert not channel.state.posts


@pytest.mark.parametrize("name", ["missing.png", "notes.txt"])
async def test_unusable_image_posts_text_only(channel: Channel, name: str) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/{name}")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    assert "/api/v2/media" not in [r.path for r in channel.state.requests]
    assert channel.state.posts[result.remote_id]["media_attachments"] == []


async def test_urls_count_23_and_graphemes_count_one() -> None:
    long_url = "https://shop.example/" + "a" * 200
    assert status_length(f"see {long_url} now") == len("see  now") + 23
    assert status_length("👩‍👩‍👧‍👦🇯🇵e\u0301") == 3
    # Trailing punctuation falls outside the server's URL: counted as text, not in the 23.
    assert measure(f"({long_url}).", TextUnit.GRAPHEMES, 23) == 1 + 23
    assert md.countable_length(f"({long_url}).") == 1 + 23 + 2
    assert status_length(f"({long_url}).") == 1 + 23 + 2
    assert md.countable_length("hi @shop@social.example") == len("hi @shop")


async def test_long_urls_do_not_shorten_the_text() -> None:
    from connectors import get

    link = "https://go.example/" + "x" * 300
    post = get(KIND).render(make_card(description="word " * 60), link)
    assert link in post.text
    assert status_length(post.text) <= 500 < len(post.text)


async def test_instance_limit_is_enforced_before_sending(channel: Channel) -> None:
    post = channel.connector.render(make_card(description="long words " * 200), LINK)
    with pytest.raises(PermanentError) as info:
        await channel.connector.publish(
            post, channel.config_with(max_characters=100), channel.session
        )
    assert info.value.code == "text_too_long" and not channel.state.requests


async def test_server_rejects_what_exceeds_its_own_limit(channel: Channel) -> None:
    from connectors.mastodon import MastodonConnector

    connector = channel.connector
    assert isinstance(connector, MastodonConnector)
    post = connector.render_within(make_card(description="long words " * 200), LINK, 1000)
    assert 500 < status_length(post.text) <= 1000
    with pytest.raises(PermanentError) as info:
        await connector.publish(post, channel.config_with(max_characters=1000), channel.session)
    assert info.value.code == "text_character_limit"
    with pytest.raises(Misconfigured) as wrong:  # the account claims more than the instance has
        await connector.check_credentials(channel.config_with(max_characters=1000), channel.session)
    assert wrong.value.code == "max_characters_above_instance_limit"


def test_an_account_renders_within_its_instance_limit(channel: Channel) -> None:
    card = make_card(description="long words " * 200)
    roomy = channel.connector.render_for(channel.config_with(max_characters=1000), card, LINK)
    default = channel.connector.render_for(channel.config, card, LINK)
    assert 500 < status_length(roomy.text) <= 1000
    assert status_length(default.text) <= 500
    assert LINK in roomy.text and LINK in default.text


async def test_rate_limit_reads_x_ratelimit_reset(channel: Channel) -> None:
    channel.state.rate = (1, 40.0)
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert 35 <= info.value.retry_after_s <= 40


@pytest.mark.parametrize(
    ("key", "error"),
    [(401, AuthExpired), (422, PermanentError), (500, TransientError), (503, TransientError)],
)
async def test_status_classes(channel: Channel, key: int, error: type[Exception]) -> None:
    channel.state.fail_next.append(key)
    with pytest.raises(error):
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )


async def test_delete_removes_and_treats_missing_as_done(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.deleted == [result.remote_id] and not channel.state.posts
    assert channel.state.requests[-1].method == "DELETE"
    with pytest.raises(PermanentError):
        await channel.connector.delete("../admin", channel.config, channel.session)


async def test_revoked_token_is_auth_expired(channel: Channel) -> None:
    config = channel.config_with(access_token=md.REVOKED_TOKEN)
    with pytest.raises(AuthExpired) as info:
        await channel.connector.check_credentials(config, channel.session)
    assert md.REVOKED_TOKEN not in f"{info.value!s} {info.value!r}"
