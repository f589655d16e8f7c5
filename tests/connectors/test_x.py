"""X API v2 connector against the X contract server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import pydantic
import pytest

import connectors
from connectors import (
    AuthExpired,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    RateScope,
    RenderedPost,
    config_to_dict,
)
from connectors._http import Reply
from connectors.x import XConnector, _error, _retry_after, tweet_length
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import x as xa
from tests.contract._server import ContractState, serve

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


# X's 24-hour post counters and pay-per-use credits ------------------------------------------

XServer = Callable[[xa.Usage], Awaitable[tuple[Any, ContractState]]]


@pytest.fixture
async def x_server(session: aiohttp.ClientSession) -> AsyncIterator[XServer]:
    """Starts an X contract server keeping `usage`; a config pointing at it, and its state."""
    async with AsyncExitStack() as stack:

        async def start(usage: xa.Usage) -> tuple[Any, ContractState]:
            state = ContractState()
            url = await stack.enter_async_context(serve(xa.create_app(state, usage)))
            config = connectors.get(KIND).parse_config(
                {
                    "consumer_key": xa.CONSUMER_KEY,
                    "consumer_secret": xa.CONSUMER_SECRET,
                    "access_token": xa.ACCESS_TOKEN,
                    "access_token_secret": xa.ACCESS_TOKEN_SECRET,
                    "base_url": url,
                }
            )
            return config, state

        yield start


async def _post(config: Any, session: aiohttp.ClientSession, title: str) -> str:
    connector = connectors.get(KIND)
    post = connector.render(make_card(title=title), LINK)
    return (await connector.publish(post, config, session)).remote_id


def _at(unix_s: float) -> str:
    return f"{datetime.fromtimestamp(unix_s, UTC):%Y-%m-%d %H:%M:%S} UTC"


async def test_spent_user_counter_holds_posts_until_its_reset(
    x_server: XServer, session: aiohttp.ClientSession
) -> None:
    reset = int(time.time()) + 5 * 3600
    usage = xa.Usage(user=xa.Window(limit=2, reset_at=reset), app=xa.Window(limit=1667))
    config, state = await x_server(usage)
    await _post(config, session, "One")
    await _post(config, session, "Two")
    with pytest.raises(QuotaExhausted) as info:
        await _post(config, session, "Three")
    held = info.value
    # Not a broken account (no PermanentError): a rate limit lasting until the counter resets,
    # not until the 15-minute window's reset the same answer names.
    assert isinstance(held, RateLimited) and not isinstance(held, PermanentError)
    assert reset - time.time() - 2 <= held.retry_after_s <= reset - time.time() + 1
    assert held.message == f"X 24-hour post limit of the user reached; resumes {_at(reset)}"
    refused = state.requests[-1]
    assert refused.path == "/2/tweets" and len(state.posts) == 2
    assert usage.user is not None and usage.user.used == 2
    assert held.scope is RateScope.ACCOUNT  # the user's own counter: no other account waits


async def test_spent_app_counter_waits_for_the_later_reset(
    x_server: XServer, session: aiohttp.ClientSession
) -> None:
    now = int(time.time())
    user = xa.Window(limit=17, used=17, reset_at=now + 600)
    app = xa.Window(limit=1667, used=1667, reset_at=now + 7200)
    config, state = await x_server(xa.Usage(user=user, app=app))
    with pytest.raises(QuotaExhausted) as info:
        await _post(config, session, "One")
    assert now + 7200 - time.time() - 2 <= info.value.retry_after_s <= 7200
    assert info.value.message == (
        f"X 24-hour post limit of the user and the app reached; resumes {_at(now + 7200)}"
    )
    assert info.value.scope is RateScope.APP  # every account of the app has to wait
    assert state.posts == {}


async def test_counter_with_room_left_is_a_plain_rate_limit(
    x_server: XServer, session: aiohttp.ClientSession
) -> None:
    config, state = await x_server(xa.Usage(user=xa.Window(limit=17)))
    state.rate = (1, 30.0)
    await _post(config, session, "One")
    with pytest.raises(RateLimited) as info:
        await _post(config, session, "Two")
    assert type(info.value) is RateLimited  # the 15-minute window, not the day
    assert 25 <= info.value.retry_after_s <= 32
    assert state.requests[-1].path == "/2/tweets"


async def test_the_counter_resets_and_posting_resumes(
    x_server: XServer, session: aiohttp.ClientSession
) -> None:
    window = xa.Window(limit=1, reset_at=int(time.time()) + 2)
    config, state = await x_server(xa.Usage(user=window))
    await _post(config, session, "One")
    with pytest.raises(QuotaExhausted) as info:
        await _post(config, session, "Two")
    assert 0.5 <= info.value.retry_after_s <= 3.0
    await asyncio.sleep(info.value.retry_after_s + 0.1)
    await _post(config, session, "Two")
    assert len(state.posts) == 2


async def test_depleted_credits_hold_posts_for_a_day(
    x_server: XServer, session: aiohttp.ClientSession
) -> None:
    usage = xa.Usage(credits=1)
    config, state = await x_server(usage)
    await _post(config, session, "One")
    with pytest.raises(QuotaExhausted) as info:
        await _post(config, session, "Two")
    depleted = info.value
    assert not isinstance(depleted, PermanentError)  # no longer Misconfigured: nothing to fix
    assert depleted.retry_after_s == 86_400.0
    assert depleted.message == (
        "X API credits depleted (402 Payment Required); posting resumes once the app's "
        "credits are topped up, tried again after 24 h"
    )
    assert len(state.posts) == 1 and usage.credits == 0
    assert depleted.scope is RateScope.APP  # the app's credits: all its accounts wait
    usage.credits = 5  # topped up
    await _post(config, session, "Two")
    assert len(state.posts) == 2


def test_a_spent_counter_is_counted_on_xs_clock() -> None:
    """The wait is the reset minus X's own time (its Date header), not ours."""
    ours = time.time()
    x_now = int(ours) + 120  # X's clock runs two minutes ahead
    headers = {
        "Date": format_datetime(datetime.fromtimestamp(x_now, UTC), usegmt=True),
        "x-rate-limit-reset": str(x_now + 900),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(x_now + 3600),
    }
    held = _error(Reply(429, headers, b'{"title": "Too Many Requests"}'))
    assert isinstance(held, QuotaExhausted) and held.retry_after_s == 3600.0
    # A spent counter without a reset: a day, the quota default.
    del headers["x-user-limit-24hour-reset"]
    held = _error(Reply(429, headers, b"{}"))
    assert isinstance(held, QuotaExhausted) and held.retry_after_s == 86_400.0
    assert held.message == "X 24-hour post limit of the user reached"
    # A reset already past on X's clock: try again at once (one second).
    headers["x-user-limit-24hour-reset"] = str(x_now - 5)
    held = _error(Reply(429, headers, b"{}"))
    assert isinstance(held, QuotaExhausted) and held.retry_after_s == 1.0


# Accounts of one X app share its 24-hour counter ------------------------------------------


def _as(config: Any, key: str, key_secret: str, token: str, token_secret: str) -> Any:
    """`config` posting as the user of `token` through the app of consumer `key`."""
    given = {
        "consumer_key": key,
        "consumer_secret": key_secret,
        "access_token": token,
        "access_token_secret": token_secret,
    }
    return connectors.get(KIND).parse_config({**config_to_dict(config), **given})


def _second_user(config: Any) -> Any:
    return _as(
        config,
        xa.CONSUMER_KEY,
        xa.CONSUMER_SECRET,
        xa.SECOND_ACCESS_TOKEN,
        xa.SECOND_ACCESS_TOKEN_SECRET,
    )


def _other_app(config: Any) -> Any:
    return _as(
        config,
        xa.OTHER_CONSUMER_KEY,
        xa.OTHER_CONSUMER_SECRET,
        xa.OTHER_APP_ACCESS_TOKEN,
        xa.OTHER_APP_ACCESS_TOKEN_SECRET,
    )


def test_app_key_names_the_app_by_a_hash_of_its_consumer_key() -> None:
    connector = XConnector()
    first = connector.parse_config(
        {
            "consumer_key": xa.CONSUMER_KEY,
            "consumer_secret": xa.CONSUMER_SECRET,
            "access_token": xa.ACCESS_TOKEN,
            "access_token_secret": xa.ACCESS_TOKEN_SECRET,
        }
    )
    app = connector.app_key(first)
    assert app is not None and app.startswith("x:")
    assert connector.app_key(_second_user(first)) == app
    assert connector.app_key(_other_app(first)) not in (None, app)
    for secret in (xa.CONSUMER_KEY, xa.CONSUMER_SECRET, xa.ACCESS_TOKEN):
        assert secret not in app
    oauth2 = connector.parse_config({"oauth2_token": xa.OAUTH2_TOKEN})
    assert connector.app_key(oauth2) is None  # names no app


async def test_the_app_counter_is_shared_by_the_apps_users_only(
    x_server: XServer, session: aiohttp.ClientSession
) -> None:
    reset = int(time.time()) + 3 * 3600
    other = xa.Window(limit=5)
    usage = xa.Usage(app=xa.Window(limit=1, reset_at=reset), apps={xa.OTHER_CONSUMER_KEY: other})
    config, state = await x_server(usage)
    await _post(config, session, "One")  # the first app's only post of the day
    with pytest.raises(QuotaExhausted) as info:
        await _post(_second_user(config), session, "Two")  # another user of the same app
    assert info.value.scope is RateScope.APP
    assert info.value.message == f"X 24-hour post limit of the app reached; resumes {_at(reset)}"
    refused = state.requests[-1]
    assert f'oauth_token="{xa.SECOND_ACCESS_TOKEN}"' in refused.headers["Authorization"]
    assert refused.path == "/2/tweets" and len(state.posts) == 1
    # Another app's user is not held by it.
    await _post(_other_app(config), session, "Three")
    assert len(state.posts) == 2 and other.used == 1


async def test_a_token_works_only_with_its_own_app(channel: Channel) -> None:
    config = _as(
        channel.config,
        xa.OTHER_CONSUMER_KEY,
        xa.OTHER_CONSUMER_SECRET,
        xa.ACCESS_TOKEN,
        xa.ACCESS_TOKEN_SECRET,
    )
    with pytest.raises(AuthExpired):
        await channel.connector.check_credentials(config, channel.session)
