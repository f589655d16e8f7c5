"""Slack Web API and incoming-webhook connectors against their contract servers."""

from __future__ import annotations

import json

import pytest

from connectors import Misconfigured, OutcomeUnknown, PermanentError
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import slack as sl


@pytest.mark.parametrize("channel", ["slack"], indirect=True)
async def test_post_message_with_mrkdwn_block_and_image(channel: Channel) -> None:
    post = channel.connector.render(make_card(image_url="https://cdn.example/mug.jpg"), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    request = channel.state.requests[-1]
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == f"Bearer {sl.TOKEN}"
    body = json.loads(request.body)
    assert body["channel"] == sl.CHANNEL and body["unfurl_links"] is False
    section = body["blocks"][0]
    assert section["text"]["text"].startswith("*Blue &lt;Mug&gt; &amp; Co*")
    assert f"<{LINK}>" in section["text"]["text"] and body["text"] == section["text"]["text"]
    assert section["accessory"]["alt_text"] == "Blue <Mug> & Co"
    channel_id, _, ts = result.remote_id.partition(":")
    assert channel_id == sl.CHANNEL and ts == result.raw["ts"]


@pytest.mark.parametrize("channel", ["slack"], indirect=True)
async def test_chat_delete_and_already_deleted(channel: Channel) -> None:
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.deleted == [result.remote_id]
    assert channel.state.requests[-1].path == "/api/chat.delete"


@pytest.mark.parametrize("channel", ["slack"], indirect=True)
async def test_fatal_error_may_have_posted(channel: Channel) -> None:
    channel.state.fail_next.append("fatal_error")
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )
    assert info.value.retry_safe is False


@pytest.mark.parametrize("channel", ["slack"], indirect=True)
async def test_unknown_channel_is_misconfigured(channel: Channel) -> None:
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK),
            channel.config_with(channel="C999"),
            channel.session,
        )
    assert info.value.code == "channel_not_found"


@pytest.mark.parametrize("channel", ["slack_webhook"], indirect=True)
async def test_incoming_webhook_posts_and_cannot_retract(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="t-1"
    )
    assert channel.state.requests[-1].path == sl.HOOK_PATH
    assert result.remote_id == "t-1" and result.remote_url is None
    (posted,) = channel.state.posts.values()
    assert f"<{LINK}>" in posted["text"]
    with pytest.raises(PermanentError):
        await channel.connector.delete(result.remote_id, channel.config, channel.session)


@pytest.mark.parametrize("channel", ["slack_webhook"], indirect=True)
async def test_incoming_webhook_check_distinguishes_alive_from_removed(channel: Channel) -> None:
    await channel.connector.check_credentials(channel.config, channel.session)
    assert not channel.state.posts  # the probe posts nothing
    removed = channel.config_with(
        webhook_url=sl.hook_url("/services/T00000000/B00000000/removedHook000")
    )
    with pytest.raises(Misconfigured) as info:
        await channel.connector.check_credentials(removed, channel.session)
    assert info.value.code == "no_service"
