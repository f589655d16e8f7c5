"""Feishu / Lark custom bot (自定义机器人): the product card as a ``post`` (rich text) message,
signed when the bot has a secret (kind ``feishu``; Lark bots use the same kind with their
``open.larksuite.com`` webhook URL).

Contract (shared/channels/china.md §4): ``POST /open-apis/bot/v2/hook/<token>``, JSON body.
Signature: ``timestamp`` in Unix **seconds** (as a string) and
``sign = base64(HMAC-SHA256(key = f"{timestamp}\\n{secret}", message = b""))`` — the key is the
concatenated string and the message is empty (the opposite of DingTalk) — both at the top level
of the body, not URL-encoded. Body ≤ 20 KB; 100 requests/minute and 5/second per bot. Answers
carry ``code`` (and the legacy ``StatusCode``); 0 is success, business errors come with HTTP 200
except 9499. No message id, no idempotency key, no retract.

A text node is literal text, so the card needs no escaping; the tracked link is an ``a`` node.
A ``sign match fail or timestamp …`` answer (19021) is Misconfigured: every request is signed
just before it is sent, so it means a wrong secret or a host clock more than an hour off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

import aiohttp
from pydantic import SecretStr, field_validator

from connectors._cn import body_code, body_error, delivery_id, fit_bytes, json_size, post_json
from connectors._http import ErrorTable
from connectors._template import Composed, card_fields, compose, dialect_for
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, Misconfigured, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "FeishuConfig", "FeishuConnector", "post_content", "sign"]

# ``code`` (as a string) → class; then HTTP statuses.
ERRORS: ErrorTable = {
    "9499": ErrorKind.PERMANENT,  # Bad Request: malformed body or over 20 KB (non-200 status)
    "19021": ErrorKind.MISCONFIGURED,  # sign match fail or timestamp not within one hour
    "19022": ErrorKind.MISCONFIGURED,  # Ip Not Allowed
    "19024": ErrorKind.MISCONFIGURED,  # Key Words Not Found: the template lacks the keyword
    "19001": ErrorKind.MISCONFIGURED,  # incoming webhook access token invalid (number unconfirmed)
    "11232": ErrorKind.RATE_LIMITED,  # frequency limited
    "2200": ErrorKind.TRANSIENT,  # internal error
    400: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
RETRY_AFTER_S = {"11232": 60.0}
_HOOK = re.compile(
    r"(https://open\.(?:feishu\.cn|larksuite\.com))(/open-apis/bot/v2/hook/[A-Za-z0-9-]{8,64})"
)
_SECRET = re.compile(r"[A-Za-z0-9]{8,128}")
MAX_BODY_BYTES = 20_000  # "20 KB"; the smaller reading
_SIGNED = {"timestamp": "1" * 10, "sign": "=" * 44}  # the signature fields' size
_TITLE_BYTES = 400  # no documented limit; a long title would crowd out the text
_LOCALE = "zh_cn"


def sign(timestamp: str, secret: str) -> str:
    """Feishu's signature: HMAC-SHA256 keyed by ``f"{timestamp}\\n{secret}"`` over nothing."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def _paragraph(line: str, link: str) -> list[dict[str, str]]:
    nodes: list[dict[str, str]] = []
    for i, part in enumerate(line.split(link)):
        if i:
            nodes.append({"tag": "a", "text": link, "href": link})
        if part:
            nodes.append({"tag": "text", "text": part})
    return nodes


def post_content(title: str, text: str, link: str) -> dict[str, Any]:
    """The ``content`` of a post message: one paragraph per non-empty line, the tracked link
    as a link node wherever it appears."""
    paragraphs = [_paragraph(line, link) for line in text.split("\n") if line.strip()]
    return {"post": {_LOCALE: {"title": title, "content": paragraphs}}}


class FeishuConfig(ConnectorConfig):
    """The bot's webhook URL as Feishu or Lark shows it, and its signing secret if set."""

    webhook_url: SecretStr
    secret: SecretStr | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _HOOK, "a Feishu or Lark custom-bot webhook URL")

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else secret_matching(value, _SECRET, "the bot's secret")


@register
class FeishuConnector(Connector[FeishuConfig]):
    kind = "feishu"
    limits = ChannelLimits(
        max_text=MAX_BODY_BYTES,
        text_unit=TextUnit.UTF8_BYTES,
        markup=Markup.PLAIN,
        max_media=0,  # images need an app's image_key; a custom bot cannot upload
        rate=Rate(100, 60.0),  # and 5 per second
        has_idempotency_key=False,
        can_delete=False,
        base_url="https://open.feishu.cn",
    )
    config_model = FeishuConfig
    errors = ERRORS
    default_template = "$price\n$description\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        title = fit_bytes(card.title.strip(), _TITLE_BYTES)

        def size(composed: Composed) -> int:
            content = post_content(title, composed.plain, link)
            return json_size({**_SIGNED, "msg_type": "post", "content": content})

        text = compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect_for(Markup.PLAIN),
            budget=MAX_BODY_BYTES,
            count=size,
        )
        payload = {"msg_type": "post", "content": post_content(title, text.plain, link)}
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=text.plain,
            text_limit=MAX_BODY_BYTES,
            link=link,
            image_url=card.image_url,
        )

    def base_url(self, config: FeishuConfig) -> str:
        match = _HOOK.fullmatch(config.webhook_url.get_secret_value())
        assert match is not None  # validated by the config model
        return (config.base_url or match.group(1)).rstrip("/")

    def _url(self, config: FeishuConfig) -> str:
        match = _HOOK.fullmatch(config.webhook_url.get_secret_value())
        assert match is not None
        return self.base_url(config) + match.group(2)

    async def _send(
        self, body: dict[str, Any], config: FeishuConfig, session: aiohttp.ClientSession
    ) -> None:
        if config.secret is not None:
            timestamp = str(int(time.time()))
            body = {
                "timestamp": timestamp,
                "sign": sign(timestamp, config.secret.get_secret_value()),
                **body,
            }
        reply = await post_json(
            session, self._url(config), body, client_timeout=self.client_timeout(config)
        )
        answer = reply.json()
        code = body_code(answer, "code", "StatusCode")
        if reply.status == 200 and code == 0:
            return
        message = ""
        if isinstance(answer, dict):
            message = str(answer.get("msg") or answer.get("StatusMessage") or "")
        raise body_error(ERRORS, reply, code=code, message=message, retry_after_s=RETRY_AFTER_S)

    async def publish(
        self,
        post: RenderedPost,
        config: FeishuConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        await self._send(dict(post.payload), config, session)
        return PublishResult(kind=self.kind, remote_id=delivery_id(idempotency_key))

    async def delete(
        self, remote_id: str, config: FeishuConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError("delete_unsupported", "Feishu custom-bot messages cannot be retracted")

    async def check_credentials(self, config: FeishuConfig, session: aiohttp.ClientSession) -> None:
        """Send a signed message without content: a live hook with the right secret refuses
        the body (a plain PermanentError); a dead hook or wrong secret is Misconfigured."""
        try:
            await self._send({"msg_type": "text"}, config, session)
        except PermanentError as exc:
            if isinstance(exc, Misconfigured):
                raise
