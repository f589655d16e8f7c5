"""One table-driven suite run against every registered connector and its contract server."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal
from typing import Any

import pydantic
import pytest

import connectors
from connectors import (
    ChannelLimits,
    ConnectorConfig,
    ConnectorError,
    ErrorKind,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    config_to_dict,
)
from connectors._text import measure
from connectors.errors import ERROR_CLASSES
from tests.connectors.conftest import CASES, LINK, Channel, make_card

KINDS = connectors.kinds()
# Pull channels (rss) make no remote call, so the network checks below skip them.
PUSH_KINDS = tuple(k for k in KINDS if not (k in CASES and CASES[k].extra.get("pull")))
ERROR_CASES = [(kind, key) for kind in PUSH_KINDS for key in connectors.get(kind).errors]

SAMPLES = {
    "plain": make_card(),
    "image": make_card(image_url="https://cdn.example/mug.jpg"),
    "long": make_card(description="Lorem ipsum dolor sit amet. " * 800),
    "cjk": make_card(
        title="青い マグカップ",
        description="頑丈な陶器のマグカップ。" * 900,
        currency="JPY",
        price=Decimal("1200"),
        locale="ja_JP",
    ),
    "emoji": make_card(title="Family mug 👩‍👩‍👧‍👦", description="🇯🇵👍🏽❤️‍🔥 " * 1500),
    "rtl": make_card(
        title="ספל כחול",
        description="ספל קרמיקה עמיד " * 700 + "مرحبا " * 300,
        locale="he_IL",
        currency="ILS",
    ),
    "markup": make_card(
        title="<b>&amp;</b> *_[x](y)_* `|` > #1",
        description="&lt; <script>alert(1)</script> \\*_~`|>[]()#-=.!{} " * 200,
    ),
    "no_price": make_card(price=None, currency=None, tags=()),
}


def test_every_registered_connector_has_a_contract_case() -> None:
    assert set(KINDS) >= {"telegram", "discord", "slack", "slack_webhook", "webhook"}
    assert set(KINDS) == set(CASES)


@pytest.mark.parametrize("kind", KINDS)
def test_declares_its_contract_as_data(kind: str) -> None:
    connector = connectors.get(kind)
    assert connector.kind == kind
    assert isinstance(connector.limits, ChannelLimits)
    assert issubclass(connector.config_model, ConnectorConfig)
    assert connector.errors and all(isinstance(v, ErrorKind) for v in connector.errors.values())
    assert set(CASES[kind].error_replies) == set(connector.errors), "contract covers the table"
    connector.check_template(connector.default_template)


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trips_and_hides_secrets(kind: str) -> None:
    connector, case = connectors.get(kind), CASES[kind]
    config = connector.parse_config(case.config("http://127.0.0.1:9"))
    assert connector.parse_config(config_to_dict(config)) == config
    shown = [repr(config), str(config), config.model_dump_json(), str(config.model_dump())]
    for secret in case.secrets:
        assert all(secret not in text for text in shown)
    with pytest.raises(pydantic.ValidationError) as info:
        connector.parse_config({**config_to_dict(config), "unexpected": 1})
    assert all(secret not in str(info.value) for secret in case.secrets)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_render_stays_within_limits_with_link_intact(kind: str, sample: str) -> None:
    connector, case = connectors.get(kind), CASES[kind]
    post = connector.render(SAMPLES[sample], LINK)
    limits = connector.limits
    assert post.kind == kind and post.link == LINK
    assert post.text_limit in (limits.max_text, limits.max_caption)
    assert measure(post.text, limits.text_unit, limits.url_length) <= post.text_limit
    assert LINK in case.check(post)
    assert connector.render(SAMPLES[sample], LINK) == post  # pure and deterministic


@pytest.mark.parametrize("kind", KINDS)
def test_merchant_template_is_used_and_checked(kind: str) -> None:
    connector, case = connectors.get(kind), CASES[kind]
    post = connector.render(make_card(), LINK, "NEW: $title for $price")
    seen = case.check(post)
    assert "NEW:" in seen and "12,50" in seen and LINK in seen  # link appended
    for bad in ("$nope", "${title", "$title {price.__class__}$"):
        with pytest.raises(ValueError):
            connector.render(make_card(), LINK, bad)


@pytest.mark.parametrize("channel", PUSH_KINDS, indirect=True)
async def test_publish_then_retract(channel: Channel) -> None:
    connector = channel.connector
    result = await connector.publish(
        connector.render(make_card(), LINK),
        channel.config,
        channel.session,
        idempotency_key="share-7.account-3",
    )
    assert result.kind == channel.kind and result.remote_id
    assert len(channel.state.posts) == 1
    if connector.limits.can_delete:
        await connector.delete(result.remote_id, channel.config, channel.session)
        assert channel.state.deleted
    else:
        with pytest.raises(PermanentError) as info:
            await connector.delete(result.remote_id, channel.config, channel.session)
        assert info.value.code == "delete_unsupported"


@pytest.mark.parametrize(("channel", "key"), ERROR_CASES, indirect=["channel"])
async def test_every_error_table_entry_is_classified(channel: Channel, key: int | str) -> None:
    expected = ERROR_CLASSES[channel.connector.errors[key]]
    channel.state.fail_next.append(key)
    post = channel.connector.render(make_card(), LINK)
    with pytest.raises(ConnectorError) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert type(info.value) is expected, (key, info.value)
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after_s > 0
    if isinstance(info.value, PermanentError) and isinstance(key, str):
        assert info.value.code == key
    for secret in channel.case.secrets:
        assert secret not in f"{info.value!s} {info.value!r}"


@pytest.mark.parametrize("channel", PUSH_KINDS, indirect=True)
async def test_refused_credentials(channel: Channel) -> None:
    connector = channel.connector
    await connector.check_credentials(channel.config, channel.session)
    refused = connector.parse_config(channel.case.refused_config(channel.url))
    with pytest.raises(channel.case.refused_error):
        await connector.check_credentials(refused, channel.session)
    with pytest.raises(channel.case.refused_error):
        await connector.publish(connector.render(make_card(), LINK), refused, channel.session)
    assert not channel.state.posts


@pytest.mark.parametrize("channel", PUSH_KINDS, indirect=True)
async def test_rate_limit_carries_the_channel_hint(channel: Channel) -> None:
    channel.state.rate = (1, 60.0)
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert info.value.retry_after_s >= 1


@pytest.mark.parametrize("channel", PUSH_KINDS, indirect=True)
async def test_timeout_after_sending_is_outcome_unknown(
    channel: Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel.state.delay_s = 2.0
    config = channel.config_with(read_timeout_s=0.2)
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK),
            config,
            channel.session,
            idempotency_key="share-7.account-3",
        )
    assert info.value.retry_safe is channel.connector.limits.has_idempotency_key
    for secret in channel.case.secrets:
        assert secret not in f"{info.value} {caplog.text}"


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("kind", PUSH_KINDS)
async def test_connection_refused_is_transient(kind: str, session: Any) -> None:
    connector = connectors.get(kind)
    config = connector.parse_config(CASES[kind].config(_closed_port_url()))
    with pytest.raises(TransientError):
        await connector.publish(connector.render(make_card(), LINK), config, session)
