"""Fixtures for connector tests: one `Case` per channel kind (its contract server, a working
config, a config whose credentials are refused, and the channel's own payload check), a
contract server runner, a real aiohttp session, and sample cards.

Adding a channel: add its contract module under tests/contract/ and one `Case` below; the
conformance suite then runs every check against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import connectors
from connectors import Card, Connector, RenderedPost
from tests.contract import discord as dc
from tests.contract import slack as sl
from tests.contract import telegram as tg
from tests.contract import webhook as wh
from tests.contract._server import ContractState, serve


def _telegram_check(post: RenderedPost) -> str:
    """Telegram's own view of the post: parse the HTML, enforce the limit, return the text."""
    body = post.payload["body"]
    field_name, limit = ("caption", 1024) if "caption" in body else ("text", 4096)
    visible = tg.parse_html(body[field_name])
    assert tg.utf16_len(visible) <= limit, (tg.utf16_len(visible), limit)
    return visible


def _discord_check(post: RenderedPost) -> str:
    body = dict(post.payload)
    assert dc.validate(body) is None, dc.validate(body)
    embed = body["embeds"][0]
    assert embed["url"] == post.link
    return str(embed["description"])


def _slack_check(post: RenderedPost) -> str:
    assert sl.check_message(dict(post.payload)) is None, sl.check_message(dict(post.payload))
    text = str(post.payload["blocks"][0]["text"]["text"])
    assert len(text) <= 3000
    assert f"<{post.link}>" in text  # the link in mrkdwn link syntax, unescaped
    return text.replace(f"<{post.link}>", post.link)


def _webhook_check(post: RenderedPost) -> str:
    data = post.payload["data"]
    assert data["link"] == post.link
    assert len(data["text"]) <= 4000
    return str(data["text"])


@dataclass(frozen=True)
class Case:
    kind: str
    create_app: Callable[[ContractState], web.Application]
    error_replies: Mapping[int | str, Callable[[], web.Response]]
    config: Callable[[str], dict[str, Any]]
    refused_config: Callable[[str], dict[str, Any]]
    refused_error: type[connectors.ConnectorError]
    secrets: tuple[str, ...]
    # The channel's own acceptance of a payload: raises/asserts if the channel would refuse
    # it, returns the text a reader sees (where the link must appear intact).
    check: Callable[[RenderedPost], str]
    extra: dict[str, Any] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "telegram": Case(
        kind="telegram",
        create_app=tg.create_app,
        error_replies=tg.ERROR_REPLIES,
        config=lambda url: {"token": tg.TOKEN, "chat_id": tg.CHANNEL_ID, "base_url": url},
        refused_config=lambda url: {
            "token": tg.REVOKED_TOKEN,
            "chat_id": tg.CHANNEL_ID,
            "base_url": url,
        },
        refused_error=connectors.AuthExpired,
        secrets=(tg.TOKEN, "valid-token_AbC"),
        check=_telegram_check,
    ),
    "discord": Case(
        kind="discord",
        create_app=dc.create_app,
        error_replies=dc.ERROR_REPLIES,
        config=lambda url: {"webhook_url": dc.webhook_url(), "base_url": url},
        refused_config=lambda url: {
            "webhook_url": dc.webhook_url(dc.REVOKED_TOKEN),
            "base_url": url,
        },
        refused_error=connectors.Misconfigured,
        secrets=(dc.TOKEN,),
        check=_discord_check,
    ),
    "slack": Case(
        kind="slack",
        create_app=sl.create_app,
        error_replies=sl.API_ERROR_REPLIES,
        config=lambda url: {"token": sl.TOKEN, "channel": sl.CHANNEL, "base_url": f"{url}/api"},
        refused_config=lambda url: {
            "token": sl.REVOKED_TOKEN,
            "channel": sl.CHANNEL,
            "base_url": f"{url}/api",
        },
        refused_error=connectors.AuthExpired,
        secrets=(sl.TOKEN,),
        check=_slack_check,
    ),
    "slack_webhook": Case(
        kind="slack_webhook",
        create_app=sl.create_webhook_app,
        error_replies=sl.WEBHOOK_ERROR_REPLIES,
        config=lambda url: {"webhook_url": sl.hook_url(), "base_url": url},
        refused_config=lambda url: {
            "webhook_url": sl.hook_url(sl.REVOKED_HOOK_PATH),
            "base_url": url,
        },
        refused_error=connectors.Misconfigured,
        secrets=("validHookSecret123",),
        check=_slack_check,
    ),
    "webhook": Case(
        kind="webhook",
        create_app=wh.create_app,
        error_replies=wh.ERROR_REPLIES,
        config=lambda url: {"url": f"{url}{wh.PATH}", "secret": wh.SECRET},
        refused_config=lambda url: {"url": f"{url}{wh.PATH}", "secret": wh.OTHER_SECRET},
        refused_error=connectors.AuthExpired,
        secrets=(wh.SECRET, wh.SECRET.removeprefix("whsec_")),
        check=_webhook_check,
    ),
}


@dataclass
class Channel:
    """A connector wired to its running contract server."""

    kind: str
    connector: Connector[Any]
    url: str
    state: ContractState
    session: aiohttp.ClientSession
    case: Case

    @property
    def config(self) -> Any:
        return self.connector.parse_config(self.case.config(self.url))

    def config_with(self, **overrides: Any) -> Any:
        return self.connector.parse_config({**self.case.config(self.url), **overrides})


def make_card(**overrides: Any) -> Card:
    values: dict[str, Any] = {
        "title": "Blue <Mug> & Co",
        "description": "A sturdy stoneware mug for *coffee* & tea. Dishwasher safe.",
        "product_url": "https://shop.example/products/blue-mug",
        "price": Decimal("12.50"),
        "currency": "EUR",
        "image_url": None,
        "tags": ("kitchen", "gift idea"),
        "locale": "de_DE",
    }
    values.update(overrides)
    return Card(**values)


LINK = "https://go.example/abc123?c=tg&x=1"


@pytest.fixture
def state() -> ContractState:
    return ContractState()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def start_contract(
    state: ContractState,
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    async with AsyncExitStack() as stack:

        async def start(kind: str) -> str:
            return await stack.enter_async_context(serve(CASES[kind].create_app(state)))

        yield start


@pytest.fixture
async def channel(
    request: pytest.FixtureRequest,
    start_contract: Callable[[str], Awaitable[str]],
    state: ContractState,
    session: aiohttp.ClientSession,
) -> Channel:
    """The channel of `request.param` (parametrised) or of the test module's ``KIND``."""
    kind = getattr(request, "param", None) or request.module.KIND
    url = await start_contract(kind)
    return Channel(kind, connectors.get(kind), url, state, session, CASES[kind])
