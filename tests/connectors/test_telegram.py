"""Telegram connector against the Telegram contract server."""

from __future__ import annotations

import json

import pytest

from connectors import AuthExpired, Misconfigured, OutcomeUnknown, PermanentError, RateLimited
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import telegram as tg

KIND = "telegram"


async def test_text_post_is_html_with_link_preview(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    sent = json.loads(channel.state.requests[-1].body)
    assert channel.state.requests[-1].path == f"/bot{tg.TOKEN}/sendMessage"
    assert sent["parse_mode"] == "HTML"
    assert "<b>Blue &lt;Mug&gt; &amp; Co</b>" in sent["text"]
    assert sent["link_preview_options"] == {"url": LINK, "prefer_large_media": True}
    stored = channel.state.posts[result.remote_id]
    assert LINK in stored["text"] and "12,50\xa0€" in stored["text"]
    assert result.remote_id == f"{tg.CHANNEL_ID}:{stored['message_id']}"
    assert result.remote_url == f"https://t.me/c/1234567890/{stored['message_id']}"


async def test_card_with_image_is_one_photo_with_caption(channel: Channel) -> None:
    card = make_card(image_url="https://cdn.example/mug.jpg", description="x " * 2000)
    post = channel.connector.render(card, LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    stored = channel.state.posts[result.remote_id]
    assert channel.state.requests[-1].path.endswith("/sendPhoto")
    assert tg.utf16_len(stored["caption"]) <= 1024
    assert stored["caption"].endswith(LINK)
    assert result.raw["method"] == "sendPhoto"


async def test_unfetchable_photo_falls_back_to_text(channel: Channel) -> None:
    card = make_card(image_url=f"https://{tg.UNREACHABLE_PHOTO}/mug.jpg")
    post = channel.connector.render(card, LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    assert [r.path.rsplit("/", 1)[1] for r in channel.state.requests] == [
        "sendPhoto",
        "sendMessage",
    ]
    assert result.raw["method"] == "sendMessage"
    assert LINK in channel.state.posts[result.remote_id]["text"]


async def test_username_chat_gets_public_url(channel: Channel) -> None:
    config = channel.config_with(chat_id="@shopdeals")
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), config, channel.session
    )
    message_id = result.raw["message_id"]
    assert result.remote_url == f"https://t.me/shopdeals/{message_id}"


async def test_delete_removes_and_is_idempotent(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert result.remote_id not in channel.state.posts
    # Already gone ("message to delete not found") counts as deleted.
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.deleted == [result.remote_id]


async def test_delete_refused_is_permanent(channel: Channel) -> None:
    channel.state.fail_next.append("message_can_t_be_deleted")
    with pytest.raises(PermanentError) as info:
        await channel.connector.delete(f"{tg.CHANNEL_ID}:5", channel.config, channel.session)
    assert info.value.code == "message_can_t_be_deleted"


async def test_flood_limit_gives_retry_after(channel: Channel) -> None:
    channel.state.rate = (2, 60.0)
    post = channel.connector.render(make_card(), LINK)
    for _ in range(2):
        await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert 1 <= info.value.retry_after_s <= 60


async def test_unknown_chat_needs_reconfiguration(channel: Channel) -> None:
    config = channel.config_with(chat_id="-100999")
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    assert info.value.code == "chat_not_found"


async def test_revoked_token_on_check_credentials(channel: Channel) -> None:
    await channel.connector.check_credentials(channel.config, channel.session)
    config = channel.config_with(token=tg.REVOKED_TOKEN)
    with pytest.raises(AuthExpired) as info:
        await channel.connector.check_credentials(config, channel.session)
    assert tg.REVOKED_TOKEN not in str(info.value)


async def test_timeout_after_send_is_not_retry_safe(channel: Channel) -> None:
    channel.state.delay_s = 1.0
    config = channel.config_with(read_timeout_s=0.1)
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    assert info.value.retry_safe is False
    assert tg.TOKEN not in str(info.value)
