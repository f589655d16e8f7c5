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
from connectors import Card, Connector, MediaPolicy, RenderedPost
from tests.contract import dingtalk as dt
from tests.contract import discord as dc
from tests.contract import email as em
from tests.contract import facebook as fb
from tests.contract import feishu as fs
from tests.contract import line as ln
from tests.contract import mastodon as md
from tests.contract import matrix as mx
from tests.contract import rss
from tests.contract import slack as sl
from tests.contract import telegram as tg
from tests.contract import webhook as wh
from tests.contract import wechat_oa as wx
from tests.contract import wecom as wc
from tests.contract import weibo as wb
from tests.contract import x as xa
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


def _mastodon_check(post: RenderedPost) -> str:
    status = str(post.payload["status"])
    assert md.countable_length(status) <= md.MAX_CHARACTERS, md.countable_length(status)
    return status


def _matrix_check(post: RenderedPost) -> str:
    content = dict(post.payload["content"])
    assert mx.check_content(content) is None, mx.check_content(content)
    assert mx.event_bytes(content) <= mx.MAX_EVENT_BYTES, mx.event_bytes(content)
    tags, hrefs, visible = mx.read_html(content["formatted_body"])
    assert tags <= mx.HTML_TAGS and post.link in hrefs, (tags, hrefs)
    assert visible == content["body"].replace("\n", "")  # the same text, twice
    return str(content["body"])


def _x_check(post: RenderedPost) -> str:
    text = str(post.payload["text"])
    assert xa.weighted_length(text) <= xa.MAX_WEIGHTED, xa.weighted_length(text)
    return text


def _x_config(url: str, access_token: str = xa.ACCESS_TOKEN) -> dict[str, Any]:
    return {
        "consumer_key": xa.CONSUMER_KEY,
        "consumer_secret": xa.CONSUMER_SECRET,
        "access_token": access_token,
        "access_token_secret": xa.ACCESS_TOKEN_SECRET,
        "base_url": url,
    }


def _facebook_check(post: RenderedPost) -> str:
    body = post.payload["body"]
    text = str(body.get("message", body.get("caption", "")))
    assert len(text) <= fb.MAX_MESSAGE
    assert body.get("link", post.link) == post.link
    return text


def _line_check(post: RenderedPost) -> str:
    body = {"to": ln.USER_ID, "messages": list(post.payload["messages"])}
    assert ln.check_push(body) is None, ln.check_push(body)
    flex = body["messages"][0]
    assert flex["contents"]["footer"]["contents"][0]["action"]["uri"] == post.link
    return str(flex["altText"])


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
    "mastodon": Case(
        kind="mastodon",
        create_app=md.create_app,
        error_replies=md.ERROR_REPLIES,
        config=lambda url: {"access_token": md.TOKEN, "base_url": url},
        refused_config=lambda url: {"access_token": md.REVOKED_TOKEN, "base_url": url},
        refused_error=connectors.AuthExpired,
        secrets=(md.TOKEN,),
        check=_mastodon_check,
    ),
    "matrix": Case(
        kind="matrix",
        create_app=mx.create_app,
        error_replies=mx.ERROR_REPLIES,
        config=lambda url: {"access_token": mx.TOKEN, "room_id": mx.ROOM_ID, "base_url": url},
        refused_config=lambda url: {
            "access_token": mx.REVOKED_TOKEN,
            "room_id": mx.ROOM_ID,
            "base_url": url,
        },
        refused_error=connectors.AuthExpired,
        secrets=(mx.TOKEN,),
        check=_matrix_check,
    ),
    "x": Case(
        kind="x",
        create_app=xa.create_app,
        error_replies=xa.ERROR_REPLIES,
        config=_x_config,
        refused_config=lambda url: _x_config(url, xa.REVOKED_ACCESS_TOKEN),
        refused_error=connectors.AuthExpired,
        secrets=(xa.CONSUMER_SECRET, xa.ACCESS_TOKEN_SECRET),
        check=_x_check,
    ),
    "facebook": Case(
        kind="facebook",
        create_app=fb.create_app,
        error_replies=fb.ERROR_REPLIES,
        config=lambda url: {"page_id": fb.PAGE_ID, "access_token": fb.TOKEN, "base_url": url},
        refused_config=lambda url: {
            "page_id": fb.PAGE_ID,
            "access_token": fb.REVOKED_TOKEN,
            "base_url": url,
        },
        refused_error=connectors.AuthExpired,
        secrets=(fb.TOKEN,),
        check=_facebook_check,
    ),
    "line": Case(
        kind="line",
        create_app=ln.create_app,
        error_replies=ln.ERROR_REPLIES,
        config=lambda url: {"channel_access_token": ln.TOKEN, "to": ln.USER_ID, "base_url": url},
        refused_config=lambda url: {
            "channel_access_token": ln.REVOKED_TOKEN,
            "to": ln.USER_ID,
            "base_url": url,
        },
        refused_error=connectors.AuthExpired,
        secrets=(ln.TOKEN,),
        check=_line_check,
    ),
    # A real SMTP server (aiosmtpd) in the test process, started by `extra["serve"]`.
    "email": Case(
        kind="email",
        create_app=em.create_app,  # type: ignore[arg-type]
        error_replies=em.ERROR_REPLIES,  # type: ignore[arg-type]
        config=em.config_for,
        refused_config=lambda url: em.config_for(url, password=em.REVOKED_PASSWORD),
        refused_error=connectors.AuthExpired,
        secrets=(em.PASSWORD,),
        check=em.check_post,
        extra={"serve": em.serve},
    ),
    # Chinese channels (issue 4): business errors under HTTP 200, classified by body code.
    **{
        kind: Case(
            kind=kind,
            create_app=wc.create_app,
            error_replies=wc.ERROR_REPLIES,
            config=lambda url: {"key": wc.webhook_url(), "base_url": url},
            refused_config=lambda url: {"key": wc.REVOKED_KEY, "base_url": url},
            refused_error=connectors.Misconfigured,
            secrets=(wc.KEY,),
            check=wc.check_post,
        )
        for kind in ("wecom", "wecom_markdown", "wecom_text")
    },
    "wechat_oa": Case(
        kind="wechat_oa",
        create_app=wx.create_app,
        error_replies=wx.ERROR_REPLIES,
        config=lambda url: {
            "appid": wx.APPID,
            "secret": wx.SECRET,
            "default_thumb_media_id": wx.THUMB_MEDIA_ID,
            "base_url": url,
        },
        refused_config=lambda url: {
            "appid": wx.APPID,
            "secret": wx.WRONG_SECRET,
            "default_thumb_media_id": wx.THUMB_MEDIA_ID,
            "base_url": url,
        },
        refused_error=connectors.Misconfigured,
        secrets=(wx.SECRET,),
        check=wx.check_post,
    ),
    "weibo": Case(
        kind="weibo",
        create_app=wb.create_app,
        error_replies=wb.ERROR_REPLIES,
        config=lambda url: {
            "access_token": wb.TOKEN,
            "safe_domain": wb.SAFE_DOMAIN,
            "rip": "211.156.0.1",
            "base_url": url,
        },
        refused_config=lambda url: {
            "access_token": wb.EXPIRED_TOKEN,
            "safe_domain": wb.SAFE_DOMAIN,
            "rip": "211.156.0.1",
            "base_url": url,
        },
        refused_error=connectors.AuthExpired,
        secrets=(wb.TOKEN,),
        check=wb.check_post,
    ),
    "feishu": Case(
        kind="feishu",
        create_app=fs.create_app,
        error_replies=fs.ERROR_REPLIES,
        config=lambda url: {"webhook_url": fs.hook_url(), "secret": fs.SECRET, "base_url": url},
        refused_config=lambda url: {
            "webhook_url": fs.hook_url(),
            "secret": fs.WRONG_SECRET,
            "base_url": url,
        },
        refused_error=connectors.Misconfigured,
        secrets=(fs.TOKEN, fs.SECRET),
        check=fs.check_post,
    ),
    "dingtalk": Case(
        kind="dingtalk",
        create_app=dt.create_app,
        error_replies=dt.ERROR_REPLIES,
        config=lambda url: {"access_token": dt.TOKEN, "secret": dt.SECRET, "base_url": url},
        refused_config=lambda url: {
            "access_token": dt.TOKEN,
            "secret": dt.WRONG_SECRET,
            "base_url": url,
        },
        refused_error=connectors.Misconfigured,
        secrets=(dt.TOKEN, dt.SECRET),
        check=dt.check_post,
    ),
    # A pull channel: publish makes no remote call, so the network checks skip it.
    "rss": Case(
        kind="rss",
        create_app=rss.create_app,
        error_replies=rss.ERROR_REPLIES,
        config=lambda url: {},
        refused_config=lambda url: {},
        refused_error=connectors.PermanentError,
        secrets=(),
        check=rss.check_post,
        extra={"pull": True},
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
# Contract servers serve card images on 127.0.0.1: connectors under test may download from
# loopback (the default policy refuses it; tests/connectors/test_media.py checks that).
LOCAL_MEDIA = MediaPolicy(allow_private=True, timeout_s=10.0)


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
            serve_other = CASES[kind].extra.get("serve")  # a non-HTTP server (SMTP)
            if serve_other is not None:
                return await stack.enter_async_context(serve_other(state))
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
    connector = connectors.get(kind).with_media(LOCAL_MEDIA)
    return Channel(kind, connector, url, state, session, CASES[kind])
