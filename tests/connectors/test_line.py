"""LINE push connector against the LINE contract server (retry keys honoured)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

import connectors
from connectors import AuthExpired, OutcomeUnknown, PermanentError, RateLimited
from connectors.errors import QuotaExhausted
from connectors.line import quota_resets_at, retry_key
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import line as ln
from tests.contract._server import ContractState, serve

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


async def test_monthly_limit_holds_posts_until_the_month_ends_in_japan(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    channel.state.fail_next.append("monthly_limit")
    before = datetime.now(UTC)
    with pytest.raises(QuotaExhausted) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    after = datetime.now(UTC)
    # Not a broken account: a rate limit lasting until the quota resets.
    assert not isinstance(info.value, PermanentError) and isinstance(info.value, RateLimited)
    resets = quota_resets_at(after)
    assert resets.utcoffset() == timedelta(hours=9) and (resets.day, resets.hour) == (1, 0)
    waited = before + timedelta(seconds=info.value.retry_after_s)
    assert abs(waited - resets) < timedelta(seconds=3)
    assert info.value.message == (
        f"LINE monthly message limit reached; resumes {resets:%Y-%m-%d %H:%M} JST"
    )
    channel.state.fail_next.append(429)
    with pytest.raises(RateLimited) as limited:
        await channel.connector.publish(post, channel.config, channel.session)
    assert type(limited.value) is RateLimited and limited.value.retry_after_s == 1.0


@pytest.mark.parametrize(
    ("now", "resets"),
    [
        ("2026-11-25T10:00:00+00:00", "2026-12-01T00:00:00+09:00"),
        ("2026-11-30T14:59:59+00:00", "2026-12-01T00:00:00+09:00"),  # 23:59:59 in Tokyo
        ("2026-11-30T15:00:00+00:00", "2027-01-01T00:00:00+09:00"),  # already December there
        ("2026-12-31T16:00:00+00:00", "2027-02-01T00:00:00+09:00"),
        ("2027-01-31T23:30:00-08:00", "2027-03-01T00:00:00+09:00"),  # February in Tokyo
    ],
)
def test_quota_resets_on_the_first_of_the_next_month_in_japan(now: str, resets: str) -> None:
    assert quota_resets_at(datetime.fromisoformat(now)) == datetime.fromisoformat(resets)


async def test_quota_reset_is_counted_on_the_channels_clock(
    session: aiohttp.ClientSession,
) -> None:
    """LINE's Date header, not our clock, says how long is left of its month."""
    state = ContractState()
    boundary = quota_resets_at(datetime.now(UTC))
    quota = ln.MonthlyQuota(limit=1)
    quota.clock_offset_s = (boundary - datetime.now(UTC)).total_seconds() - 30.0
    quota.exhaust()
    connector = connectors.get(KIND)
    async with serve(ln.create_app(state, quota)) as url:
        config = connector.parse_config(
            {"channel_access_token": ln.TOKEN, "to": ln.USER_ID, "base_url": url}
        )
        post = connector.render(make_card(), LINK)
        with pytest.raises(QuotaExhausted) as info:
            await connector.publish(post, config, session)
        assert 27.0 <= info.value.retry_after_s <= 31.0
        assert f"resumes {boundary:%Y-%m-%d} 00:00 JST" in info.value.message
        assert state.posts == {}
        quota.clock_offset_s += 31.0  # the server's month turned: a fresh quota
        await connector.publish(post, config, session)
        assert len(state.posts) == 1


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
