"""Generic signed webhook (Standard Webhooks) against a verifying receiver."""

from __future__ import annotations

import json

import pydantic
import pytest
from pydantic import SecretStr

from connectors import Misconfigured
from connectors.webhook import WebhookConfig, sign
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import webhook as wh

KIND = "webhook"


def test_signature_matches_the_spec_test_vector() -> None:
    secret = SecretStr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!", "whsec_c2hvcnQ="]
)
def test_bad_secrets_are_refused_without_echo(secret: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        WebhookConfig(url="https://receiver.example/hook", secret=SecretStr(secret))
    assert secret not in str(info.value)


async def test_delivery_is_signed_and_carries_the_card(channel: Channel) -> None:
    post = channel.connector.render(make_card(image_url="https://cdn.example/m.jpg"), LINK)
    result = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="target_42"
    )
    request = channel.state.requests[-1]
    assert request.headers["webhook-id"] == "target_42" == result.remote_id
    assert request.headers["webhook-signature"].startswith("v1,")
    event = json.loads(request.body)
    assert event["type"] == "share.published"
    assert event["data"]["link"] == LINK and event["data"]["price"] == "12.50"
    assert event["data"]["currency"] == "EUR" and LINK in event["data"]["text"]
    assert result.remote_url == "https://receiver.example/shares/target_42"


async def test_same_idempotency_key_is_processed_once(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    first = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="target_43"
    )
    again = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="target_43"
    )
    assert first.remote_id == again.remote_id
    assert list(channel.state.posts) == ["target_43"]
    assert len(channel.state.requests) == 2


async def test_without_key_each_delivery_gets_its_own_id(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    one = await channel.connector.publish(post, channel.config, channel.session)
    two = await channel.connector.publish(post, channel.config, channel.session)
    assert one.remote_id != two.remote_id and len(channel.state.posts) == 2


async def test_retract_sends_a_signed_delete_event(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="target_44"
    )
    await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.deleted == ["target_44"] and not channel.state.posts
    assert json.loads(channel.state.requests[-1].body)["type"] == "share.deleted"


async def test_retired_endpoint_is_misconfigured(channel: Channel) -> None:
    config = channel.config_with(url=f"{channel.url}{wh.GONE_PATH}")
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    assert info.value.code == "http_410"
