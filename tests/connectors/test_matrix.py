"""Matrix connector against the Matrix contract server, and against a real Synapse."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import connectors
from connectors import AuthExpired, Misconfigured, OutcomeUnknown, PermanentError, RateLimited
from connectors.matrix import MatrixConnector
from tests.conftest import free_port
from tests.connectors.conftest import LINK, LOCAL_MEDIA, Channel, make_card
from tests.contract import matrix as mx
from tests.contract._server import ContractState, serve
from tests.contract.synapse import Synapse, SynapseUnavailable

KIND = "matrix"
KEY = "share-7.account-3"


def _sent(channel: Channel, index: int = -1) -> dict[str, Any]:
    return json.loads(channel.state.requests[index].body)  # type: ignore[no-any-return]


async def test_text_card_is_html_plus_plain_body(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    result = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )

    request = channel.state.requests[-1]
    assert request.method == "PUT"
    assert request.path == f"/_matrix/client/v3/rooms/{mx.ROOM_ID}/send/m.room.message/{KEY}"
    assert request.headers["Authorization"] == f"Bearer {mx.TOKEN}"
    content = _sent(channel)
    assert content["msgtype"] == "m.text" and content["format"] == "org.matrix.custom.html"
    assert content["body"].startswith("Blue <Mug> & Co\n\n") and content["body"].endswith(LINK)
    assert content["formatted_body"].startswith("<strong>Blue &lt;Mug&gt; &amp; Co</strong><br>")
    assert f'<a href="{LINK.replace("&", "&amp;")}">' in content["formatted_body"]
    event_id = result.raw["event_id"]
    assert result.remote_id == f"{mx.ROOM_ID}|{event_id}" and event_id in channel.state.posts
    assert result.remote_url == f"https://matrix.to/#/%21shopRoom%3Ahub.test/%24{event_id[1:]}"


async def test_same_transaction_id_returns_the_same_event(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    first = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    again = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    other = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key="share-8.account-3"
    )
    assert again.remote_id == first.remote_id != other.remote_id
    assert len(channel.state.posts) == 2


async def test_timeout_is_retry_safe_with_the_transaction_id(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    channel.state.delay_s = 1.0
    with pytest.raises(OutcomeUnknown) as info:
        await channel.connector.publish(
            post, channel.config_with(read_timeout_s=0.1), channel.session, idempotency_key=KEY
        )
    assert info.value.retry_safe is True
    for _ in range(2):
        await channel.connector.publish(post, channel.config, channel.session, idempotency_key=KEY)
    assert len(channel.state.posts) == 1


async def test_notice_msgtype_from_config(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config_with(msgtype="m.notice"), channel.session)
    assert _sent(channel)["msgtype"] == "m.notice"


async def test_image_is_uploaded_and_the_card_is_its_caption(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/mug.png")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    upload = channel.state.requests[1]
    assert upload.path == "/_matrix/media/v3/upload" and upload.query == "filename=mug.png"
    assert upload.headers["Content-Type"] == "image/png"
    content = channel.state.posts[result.raw["event_id"]]["content"]
    assert content["msgtype"] == "m.image" and content["url"].startswith("mxc://hub.test/")
    assert content["filename"] == "mug.png" and content["body"].endswith(LINK)
    assert content["info"] == {"mimetype": "image/png", "size": len(upload.body)}


async def test_unreachable_image_sends_text(channel: Channel) -> None:
    card = make_card(image_url=f"{channel.url}/cdn/missing.png")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    assert channel.state.posts[result.raw["event_id"]]["content"]["msgtype"] == "m.text"


async def test_content_stays_under_the_event_limit() -> None:
    connector = connectors.get(KIND)
    card = make_card(description="<&> 頑丈な陶器 " * 20_000)
    post = connector.render(card, LINK)
    content = dict(post.payload["content"])
    assert mx.event_bytes(content) <= mx.MAX_EVENT_BYTES
    assert post.text.endswith(LINK) and "…" in post.text


async def test_rate_limit_reads_retry_after(channel: Channel) -> None:
    channel.state.rate = (1, 30.0)
    post = channel.connector.render(make_card(), LINK)
    await channel.connector.publish(post, channel.config, channel.session)
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(post, channel.config, channel.session)
    assert 25 <= info.value.retry_after_s <= 30


async def test_retry_after_ms_when_no_header(channel: Channel) -> None:
    channel.state.fail_next.append("M_LIMIT_EXCEEDED")
    # the reply carries both; the header (5 s, rounded up) wins, as the spec advises
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )
    assert info.value.retry_after_s == 5.0


async def test_room_not_joined_needs_a_person(channel: Channel) -> None:
    config = channel.config_with(room_id=mx.OTHER_ROOM_ID)
    with pytest.raises(Misconfigured) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), config, channel.session
        )
    assert info.value.code == "M_FORBIDDEN"
    with pytest.raises(Misconfigured) as checked:
        await channel.connector.check_credentials(config, channel.session)
    assert checked.value.code == "not_in_room"


async def test_redaction_deletes_and_repeats_harmlessly(channel: Channel) -> None:
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), channel.config, channel.session
    )
    for _ in range(2):
        await channel.connector.delete(result.remote_id, channel.config, channel.session)
    assert channel.state.deleted == [result.raw["event_id"]]
    redactions = [r.path for r in channel.state.requests if "/redact/" in r.path]
    assert len(redactions) == 2 and redactions[0] == redactions[1]  # one transaction id
    with pytest.raises(PermanentError):
        await channel.connector.delete("no-separator", channel.config, channel.session)


async def test_missing_token_is_auth_expired(channel: Channel) -> None:
    channel.state.fail_next.append("M_MISSING_TOKEN")
    with pytest.raises(AuthExpired):
        await channel.connector.check_credentials(channel.config, channel.session)


# --- a real Synapse ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """A real Synapse on SQLite and a free loopback port, installed into its own venv when
    missing. Fails in CI when it cannot run; elsewhere skips, saying why."""
    try:
        server = Synapse.start(tmp_path_factory.mktemp("synapse"), free_port())
    except SynapseUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Synapse is required in CI: {exc}")
        pytest.skip(f"Synapse unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def images() -> AsyncIterator[str]:
    """A local server for card images (the contract server's /cdn route)."""
    async with serve(mx.create_app(ContractState())) as url:
        yield url


def _real(synapse: Synapse, **overrides: Any) -> Any:
    return connectors.get(KIND).parse_config(
        {
            "base_url": synapse.base_url,
            "access_token": synapse.access_token,
            "room_id": synapse.room_id,
            **overrides,
        }
    )


@pytest.mark.slow
async def test_synapse_publish_dedupe_image_and_redact(
    synapse: Synapse, session: aiohttp.ClientSession, images: str
) -> None:
    connector = connectors.get(KIND).with_media(LOCAL_MEDIA)
    assert isinstance(connector, MatrixConnector)
    config = _real(synapse)
    await connector.check_credentials(config, session)

    post = connector.render(make_card(), LINK)
    first = await connector.publish(post, config, session, idempotency_key="real-1")
    again = await connector.publish(post, config, session, idempotency_key="real-1")
    assert again.remote_id == first.remote_id
    stored = synapse.event(first.raw["event_id"])
    assert stored["content"]["body"].endswith(LINK)
    assert stored["content"]["formatted_body"].startswith("<strong>Blue &lt;Mug&gt;")

    card = make_card(image_url=f"{images}/cdn/mug.png")
    pictured = await connector.publish(connector.render(card, LINK), config, session)
    content = synapse.event(pictured.raw["event_id"])["content"]
    assert content["msgtype"] == "m.image" and content["url"].startswith("mxc://localhost/")

    await connector.delete(first.remote_id, config, session)
    await connector.delete(first.remote_id, config, session)
    assert synapse.event(first.raw["event_id"])["content"] == {}  # redacted


@pytest.mark.slow
async def test_synapse_accepts_the_largest_card_we_render(
    synapse: Synapse, session: aiohttp.ClientSession
) -> None:
    connector = connectors.get(KIND)
    post = connector.render(make_card(description="<&> 頑丈な陶器 \"'" * 20_000), LINK)
    result = await connector.publish(post, _real(synapse), session)
    assert synapse.event(result.raw["event_id"])["content"]["body"] == post.text


@pytest.mark.slow
async def test_synapse_errors_are_classified(
    synapse: Synapse, session: aiohttp.ClientSession
) -> None:
    connector = connectors.get(KIND)
    post = connector.render(make_card(), LINK)
    with pytest.raises(AuthExpired):
        await connector.publish(post, _real(synapse, access_token="syt_bogus"), session)
    with pytest.raises(AuthExpired):
        await connector.check_credentials(_real(synapse, access_token="syt_bogus"), session)
    elsewhere = _real(synapse, room_id="!nowhere:localhost")
    with pytest.raises(Misconfigured) as info:
        await connector.publish(post, elsewhere, session)
    assert info.value.code == "M_FORBIDDEN"
    with pytest.raises(Misconfigured):
        await connector.check_credentials(elsewhere, session)


def test_synapse_venv_is_outside_the_project_venv() -> None:
    from tests.contract.synapse import VENV

    root = Path(__file__).resolve().parents[2]
    assert VENV == root / "var" / "synapse-venv" and not VENV.is_relative_to(root / ".venv")
