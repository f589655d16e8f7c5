"""Facebook Pages connector against the Graph API contract server."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from connectors import AuthExpired, Misconfigured, PermanentError, RateLimited, TransientError
from connectors._http import Reply
from connectors.errors import QuotaExhausted
from connectors.facebook import _error, error_key
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import facebook as fb

KIND = "facebook"


def _form(channel: Channel) -> dict[str, str]:
    body = channel.state.requests[-1].body.decode()
    return {key: values[0] for key, values in parse_qs(body).items()}


async def test_feed_post_carries_message_link_and_token_in_the_body(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(post, channel.config, channel.session)

    request = channel.state.requests[-1]
    assert request.method == "POST" and request.path == f"/v23.0/{fb.PAGE_ID}/feed"
    assert fb.TOKEN not in request.query  # never in the URL
    sent = _form(channel)
    assert sent["access_token"] == fb.TOKEN and sent["link"] == LINK
    assert sent["message"].startswith("Blue <Mug> & Co") and sent["message"].endswith(LINK)
    assert "12,50\xa0€" in sent["message"]
    assert result.remote_id in channel.state.posts and result.remote_id.startswith(fb.PAGE_ID)
    assert result.remote_url == f"https://www.facebook.com/{result.remote_id}"


async def test_card_with_image_is_a_photo_post_with_the_link_in_the_caption(
    channel: Channel,
) -> None:
    card = make_card(image_url="https://cdn.example/mug.jpg")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    assert channel.state.requests[-1].path.endswith("/photos")
    sent = _form(channel)
    assert sent["url"] == "https://cdn.example/mug.jpg" and sent["caption"].endswith(LINK)
    assert result.raw["edge"] == "photos" and result.remote_id == result.raw["post_id"]
    assert result.raw["id"] != result.remote_id  # the photo id is not the post id


async def test_version_is_pinned_in_the_path(channel: Channel) -> None:
    config = channel.config_with(api_version="v19.0")
    await channel.connector.publish(
        channel.connector.render(make_card(), LINK), config, channel.session
    )
    assert channel.state.requests[-1].path.startswith("/v19.0/")
    with pytest.raises(ValueError):
        channel.config_with(api_version="latest")


async def test_delete_removes_and_already_gone_counts_as_deleted(channel: Channel) -> None:
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.requests[-1].method == "DELETE"
    assert result.remote_id not in channel.state.posts
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.deleted == [result.remote_id]
    with pytest.raises(PermanentError) as info:
        await channel.connector.delete("../me", channel.config, channel.session)
    assert info.value.code == "bad_remote_id"


async def test_same_message_twice_is_duplicate_content(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(PermanentError) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.code == "duplicate_content" and "506" in info.value.message


async def test_page_throttling_waits_for_the_usage_header_hint(channel: Channel) -> None:
    channel.state.rate = (1, 600.0)
    await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(title="Other"), LINK),
            channel.config,
            channel.session,
        )
    assert info.value.retry_after_s == 600.0  # estimated_time_to_regain_access: 10 minutes


async def test_token_of_another_page(channel: Channel) -> None:
    config = channel.config_with(access_token=fb.OTHER_PAGE_TOKEN)
    with pytest.raises(Misconfigured) as info:
        await channel.connector.check_credentials(config, channel.session)
    assert info.value.code == "token_not_for_page"
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    assert info.value.code == "permission_denied"


async def test_expired_token_is_reauth_and_never_echoed(channel: Channel) -> None:
    config = channel.config_with(access_token=fb.REVOKED_TOKEN)
    with pytest.raises(AuthExpired) as info:
        await channel.connector.check_credentials(config, channel.session)
    assert "463" in str(info.value) and fb.REVOKED_TOKEN not in repr(info.value)


def _reply(error: dict[str, object], headers: dict[str, str] | None = None) -> Reply:
    return Reply(400, headers or {}, json.dumps({"error": error}).encode())


def test_codes_map_to_kinds() -> None:
    assert error_key(4) == "app_rate_limit" and error_key(613) == "api_rate_limit"
    assert error_key(230) == "permission_denied" and error_key(10) == "permission_denied"
    assert error_key(190) == error_key(102) == "access_token_invalid"
    assert error_key(9999) == "graph_9999"
    unknown_transient = _error(_reply({"code": 9999, "message": "x", "is_transient": True}))
    assert isinstance(unknown_transient, TransientError)
    unknown = _error(_reply({"code": 9999, "message": "x"}))
    assert isinstance(unknown, PermanentError) and unknown.code == "graph_9999"


async def test_a_temporary_block_holds_the_page_for_a_day(channel: Channel) -> None:
    channel.state.fail_next.append("temporarily_blocked")
    with pytest.raises(QuotaExhausted) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )
    blocked = info.value
    assert not isinstance(blocked, PermanentError) and isinstance(blocked, RateLimited)
    assert blocked.retry_after_s == 86_400.0
    assert blocked.message.startswith("Facebook temporarily blocked posting (code 368): ")
    assert "misusing this feature" in blocked.message and blocked.message.endswith("24 h")
    # A longer wait in the usage headers wins over the day.
    usage = {fb.PAGE_ID: [{"type": "pages", "estimated_time_to_regain_access": 2880}]}
    longer = _error(
        _reply({"code": 368, "message": "x"}, {"X-Business-Use-Case-Usage": json.dumps(usage)})
    )
    assert isinstance(longer, QuotaExhausted) and longer.retry_after_s == 2 * 86_400.0
    assert longer.message.endswith("retrying after 48 h")


def test_rate_limit_without_a_hint_waits_the_default() -> None:
    limited = _error(_reply({"code": 4, "message": "(#4) Application request limit reached"}))
    assert isinstance(limited, RateLimited) and limited.retry_after_s == 300.0
    hinted = _error(_reply({"code": 17, "message": "x"}, {"Retry-After": "42"}))
    assert isinstance(hinted, RateLimited) and hinted.retry_after_s == 42.0
