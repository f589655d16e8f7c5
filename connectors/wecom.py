"""WeCom (企业微信) group robot webhook: ``news`` cards (kind ``wecom``), ``markdown``
(``wecom_markdown``) and ``text`` (``wecom_text``) messages.

Contract (shared/channels/china.md §1): ``POST /cgi-bin/webhook/send?key=KEY``, the key is the
only credential. Every answer is HTTP 200 ``{"errcode", "errmsg"}``; classify by ``errcode``.
Limits are UTF-8 **bytes**: text 2048, markdown 4096, news title 128 and description 512
(longer news fields are silently cut by WeCom, so we fit them ourselves and the link is never
cut). 20 messages per minute per robot (45009 beyond). No message id, no idempotency key, no
retract: a timeout after sending is `OutcomeUnknown(retry_safe=False)`.

WeCom markdown documents no escape character: in card text the characters that would start
markup (``* ` [ ] < > #``) are replaced by their full-width forms, so a title can neither
format the message nor mention anyone.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._cn import body_code, body_error, delivery_id, fit_bytes, post_json, utf8_len
from connectors._http import ErrorTable
from connectors._template import Composed, Dialect, card_fields, compose
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = [
    "ERRORS",
    "WecomConfig",
    "WecomMarkdownConnector",
    "WecomNewsConnector",
    "WecomTextConnector",
]

# errcode (as a string) → class. Confirmed on this endpoint: -1, 45009, 93000, 40058; the rest
# from the global code list (china.md marks them unconfirmed for the webhook).
ERRORS: ErrorTable = {
    "-1": ErrorKind.TRANSIENT,  # system busy
    "45009": ErrorKind.RATE_LIMITED,  # api freq out of limit: 20/min per robot
    "45033": ErrorKind.RATE_LIMITED,  # concurrency limit
    "93000": ErrorKind.MISCONFIGURED,  # invalid webhook url: key removed or wrong
    "40058": ErrorKind.PERMANENT,  # invalid parameter, e.g. content exceeds 4096 bytes
    "40008": ErrorKind.PERMANENT,  # invalid msgtype
    "40007": ErrorKind.PERMANENT,  # invalid media_id
    "40004": ErrorKind.PERMANENT,  # bad media type
    "40006": ErrorKind.PERMANENT,  # bad file size
    "45001": ErrorKind.PERMANENT,  # media too large
    "44004": ErrorKind.PERMANENT,  # empty text content
    "45008": ErrorKind.PERMANENT,  # more than 8 articles
    "45034": ErrorKind.PERMANENT,  # url without http:// or https://
    "45002": ErrorKind.PERMANENT,  # content too large
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
RETRY_AFTER_S = {"45009": 60.0, "45033": 5.0}
# A request with no msgtype is refused with one of these when the key itself is valid.
_ALIVE = {"40008", "40058", "44004"}
_KEY = re.compile(r"[A-Za-z0-9-]{16,64}")
_TEXT_BYTES, _MARKDOWN_BYTES = 2048, 4096
_NEWS_TITLE_BYTES, _NEWS_DESCRIPTION_BYTES = 128, 512
_FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "*`[]<>#"})
_RATE = Rate(20, 60.0)
_BASE_URL = "https://qyapi.weixin.qq.com"


class WecomConfig(ConnectorConfig):
    """The robot's webhook key, or the whole webhook URL as WeCom shows it (normalised to the
    key). `mentioned_list` (user ids or ``"@all"``) applies to text messages only."""

    key: SecretStr
    mentioned_list: tuple[str, ...] = Field(default=(), max_length=50)

    @field_validator("key", mode="before")
    @classmethod
    def _key_from_url(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.startswith(("http://", "https://")):
            keys = parse_qs(urlsplit(raw).query).get("key")
            if not keys:
                raise ValueError("expected a webhook URL with ?key=")
            return keys[0]
        return value

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _KEY, "a WeCom robot key or webhook URL")


_MARKDOWN = Dialect(
    escape=lambda s: s.translate(_FULL_WIDTH),
    bold=lambda s: f"**{s}**",
    link=lambda u: f"[{u}]({u})",
)
_PLAIN = Dialect(escape=lambda s: s, bold=lambda s: s, link=lambda u: u)


class _WecomRobot(Connector[WecomConfig]):
    """What the three message kinds share: the webhook call, errors and credentials check."""

    config_model = WecomConfig
    errors = ERRORS

    def _compose(
        self, card: Card, link: str, template: str | None, dialect: Dialect, budget: int
    ) -> Composed:
        return compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect,
            budget=budget,
            count=lambda c: utf8_len(c.marked),
        )

    def _post(
        self, payload: dict[str, Any], text: str, budget: int, link: str, card: Card
    ) -> RenderedPost:
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=text,
            text_limit=budget,
            link=link,
            image_url=card.image_url,
        )

    async def _send(
        self, body: dict[str, Any], config: WecomConfig, session: aiohttp.ClientSession
    ) -> None:
        url = f"{self.base_url(config)}/cgi-bin/webhook/send?key={config.key.get_secret_value()}"
        reply = await post_json(session, url, body, client_timeout=self.client_timeout(config))
        answer = reply.json()
        code = body_code(answer, "errcode")
        if reply.status == 200 and code == 0:
            return
        message = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
        raise body_error(ERRORS, reply, code=code, message=message, retry_after_s=RETRY_AFTER_S)

    async def publish(
        self,
        post: RenderedPost,
        config: WecomConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        body = dict(post.payload)
        if body.get("msgtype") == "text" and config.mentioned_list:
            body["text"] = {**body["text"], "mentioned_list": list(config.mentioned_list)}
        await self._send(body, config, session)
        return PublishResult(kind=self.kind, remote_id=delivery_id(idempotency_key))

    async def delete(
        self, remote_id: str, config: WecomConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError("delete_unsupported", "WeCom robot messages cannot be retracted")

    async def check_credentials(self, config: WecomConfig, session: aiohttp.ClientSession) -> None:
        """Send a message without a type: a live key answers 40008, a dead one 93000."""
        try:
            await self._send({}, config, session)
        except PermanentError as exc:
            if exc.code not in _ALIVE:
                raise


def _limits(max_text: int, markup: Markup, media: int) -> ChannelLimits:
    return ChannelLimits(
        max_text=max_text,
        text_unit=TextUnit.UTF8_BYTES,
        markup=markup,
        max_media=media,
        media_types=("image/jpeg", "image/png") if media else (),
        rate=_RATE,
        has_idempotency_key=False,
        can_delete=False,
        base_url=_BASE_URL,
    )


@register
class WecomNewsConnector(_WecomRobot):
    """One ``news`` article: title, price and description, the product picture, and a click
    through to the tracked link (which also ends the description)."""

    kind = "wecom"
    limits = _limits(_NEWS_DESCRIPTION_BYTES, Markup.PLAIN, 1)
    default_template = "$price\n$description\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        budget = _NEWS_DESCRIPTION_BYTES
        text = self._compose(card, link, template, _PLAIN, budget)
        article: dict[str, str] = {
            "title": fit_bytes(card.title.strip(), _NEWS_TITLE_BYTES),
            "description": text.plain,
            "url": link,
        }
        if card.image_url:
            article["picurl"] = card.image_url
        payload = {"msgtype": "news", "news": {"articles": [article]}}
        return self._post(payload, text.plain, budget, link, card)


@register
class WecomMarkdownConnector(_WecomRobot):
    """A ``markdown`` message: bold title, description, price and the link (4096 bytes)."""

    kind = "wecom_markdown"
    limits = _limits(_MARKDOWN_BYTES, Markup.MARKDOWN, 0)

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        text = self._compose(card, link, template, _MARKDOWN, _MARKDOWN_BYTES)
        payload = {"msgtype": "markdown", "markdown": {"content": text.marked}}
        return self._post(payload, text.marked, _MARKDOWN_BYTES, link, card)


@register
class WecomTextConnector(_WecomRobot):
    """A ``text`` message (2048 bytes), optionally mentioning `WecomConfig.mentioned_list`."""

    kind = "wecom_text"
    limits = _limits(_TEXT_BYTES, Markup.PLAIN, 0)

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        text = self._compose(card, link, template, _PLAIN, _TEXT_BYTES)
        payload = {"msgtype": "text", "text": {"content": text.plain}}
        return self._post(payload, text.plain, _TEXT_BYTES, link, card)
