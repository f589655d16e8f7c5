"""DingTalk (钉钉) custom robot: the product card as a ``link`` message (title, text, picture,
click through to the tracked link), signed when the robot has a secret (kind ``dingtalk``).

Contract (shared/channels/china.md §5): ``POST /robot/send?access_token=T``, UTF-8 JSON.
Signature (加签): ``timestamp`` in **milliseconds**;
``sign = urlencode(base64(HMAC-SHA256(key = secret, message = f"{timestamp}\\n{secret}")))``
— the key is the secret and the message the concatenated string (the opposite of Feishu) —
appended to the URL as ``&timestamp=…&sign=…``, URL-encoded exactly once; nothing in the body.
Body ≤ 20 000 bytes. 20 messages per minute per robot; beyond it the robot is throttled for
10 minutes. Answers are HTTP 200 ``{"errcode", "errmsg"}``; 310000 (security check) is told
apart by its errmsg. No message id, no idempotency key, no retract.

The ``link`` text is plain (no markup to escape); DingTalk shortens it on screen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import aiohttp
from pydantic import SecretStr, field_validator

from connectors._cn import body_code, body_error, delivery_id, fit_bytes, json_size, post_json
from connectors._http import ErrorTable
from connectors._template import Composed, card_fields, compose, dialect_for
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, Misconfigured, PermanentError, RateLimited
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "DingtalkConfig", "DingtalkConnector", "sign", "signed_query"]

# errcode (as a string; 310000 refined by its errmsg) → class; then HTTP statuses.
ERRORS: ErrorTable = {
    "-1": ErrorKind.TRANSIENT,  # system busy
    "310000_invalid_timestamp": ErrorKind.TRANSIENT,  # signed too long ago: a resend re-signs
    "310000_sign_not_match": ErrorKind.MISCONFIGURED,  # wrong secret
    "310000_keywords_not_in_content": ErrorKind.MISCONFIGURED,  # template lacks the keyword
    "310000_ip_not_in_whitelist": ErrorKind.MISCONFIGURED,
    "310000": ErrorKind.MISCONFIGURED,  # other security check failures
    "410100": ErrorKind.RATE_LIMITED,  # sending too fast: throttled for 10 minutes
    "130101": ErrorKind.RATE_LIMITED,  # send too fast, exceed 20 times per minute (older)
    "400013": ErrorKind.MISCONFIGURED,  # group disbanded
    "400101": ErrorKind.MISCONFIGURED,  # access_token does not exist
    "400102": ErrorKind.MISCONFIGURED,  # robot disabled
    "400106": ErrorKind.MISCONFIGURED,  # robot does not exist / not in the group
    "300001": ErrorKind.MISCONFIGURED,  # token is not exist (older)
    "300005": ErrorKind.MISCONFIGURED,  # token is not exist (reported)
    "400105": ErrorKind.PERMANENT,  # unsupported message type
    "430101": ErrorKind.PERMANENT,  # unsafe external link
    "430102": ErrorKind.PERMANENT,  # inappropriate text
    "430103": ErrorKind.PERMANENT,  # inappropriate image
    "430104": ErrorKind.PERMANENT,  # inappropriate content
    "40035": ErrorKind.PERMANENT,  # missing json parameter
    "43004": ErrorKind.PERMANENT,  # invalid Content-Type
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
THROTTLE_S = 600.0
RETRY_AFTER_S = {"410100": THROTTLE_S, "130101": THROTTLE_S}
_SECURITY = (
    ("timestamp", "310000_invalid_timestamp"),
    ("sign", "310000_sign_not_match"),
    ("keyword", "310000_keywords_not_in_content"),
    ("whitelist", "310000_ip_not_in_whitelist"),
)
_TOO_FAST = re.compile(r"too fast|限流|频率")
_TOKEN = re.compile(r"[A-Za-z0-9]{16,128}")
_SECRET = re.compile(r"SEC[A-Za-z0-9]{16,128}")
MAX_BODY_BYTES = 20_000
_TITLE_BYTES = 400  # no documented limit; a long title would crowd out the text


def sign(timestamp_ms: str, secret: str) -> str:
    """DingTalk's signature before URL-encoding: HMAC-SHA256 keyed by the secret over
    ``f"{timestamp}\\n{secret}"``, base64."""
    message = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signed_query(secret: str, timestamp_ms: int) -> str:
    """``&timestamp=…&sign=…`` with the signature URL-encoded once."""
    return f"&timestamp={timestamp_ms}&sign={quote_plus(sign(str(timestamp_ms), secret))}"


class DingtalkConfig(ConnectorConfig):
    """The robot's access token, or its whole webhook URL (normalised to the token), and the
    ``SEC…`` secret when the robot signs."""

    access_token: SecretStr
    secret: SecretStr | None = None

    @field_validator("access_token", mode="before")
    @classmethod
    def _token_from_url(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.startswith(("http://", "https://")):
            tokens = parse_qs(urlsplit(raw).query).get("access_token")
            if not tokens:
                raise ValueError("expected a webhook URL with ?access_token=")
            return tokens[0]
        return value

    @field_validator("access_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _TOKEN, "a DingTalk robot access token or webhook URL")

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else secret_matching(value, _SECRET, "a SEC… secret")


def _error_key(code: int | None, message: str) -> int | str | None:
    if code != 310000:
        return code
    lowered = message.lower()
    for word, key in _SECURITY:
        if word in lowered:
            return key
    return "310000"


@register
class DingtalkConnector(Connector[DingtalkConfig]):
    kind = "dingtalk"
    limits = ChannelLimits(
        max_text=MAX_BODY_BYTES,
        text_unit=TextUnit.UTF8_BYTES,
        markup=Markup.PLAIN,
        max_media=1,
        media_types=("image/jpeg", "image/png"),
        rate=Rate(20, 60.0),
        has_idempotency_key=False,
        can_delete=False,
        base_url="https://oapi.dingtalk.com",
    )
    config_model = DingtalkConfig
    errors = ERRORS
    default_template = "$price\n$description\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        title = fit_bytes(card.title.strip(), _TITLE_BYTES)

        def body(text: str) -> dict[str, Any]:
            message: dict[str, str] = {"title": title, "text": text, "messageUrl": link}
            if card.image_url:
                message["picUrl"] = card.image_url
            return {"msgtype": "link", "link": message}

        def size(composed: Composed) -> int:
            return json_size(body(composed.plain))

        text = compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect_for(Markup.PLAIN),
            budget=MAX_BODY_BYTES,
            count=size,
        )
        return RenderedPost(
            kind=self.kind,
            payload=body(text.plain),
            text=text.plain,
            text_limit=MAX_BODY_BYTES,
            link=link,
            image_url=card.image_url,
        )

    def _url(self, config: DingtalkConfig) -> str:
        url = f"{self.base_url(config)}/robot/send?access_token="
        url += config.access_token.get_secret_value()
        if config.secret is not None:
            url += signed_query(config.secret.get_secret_value(), int(time.time() * 1000))
        return url

    async def _send(
        self, body: dict[str, Any], config: DingtalkConfig, session: aiohttp.ClientSession
    ) -> None:
        reply = await post_json(
            session, self._url(config), body, client_timeout=self.client_timeout(config)
        )
        answer = reply.json()
        code = body_code(answer, "errcode")
        if reply.status == 200 and code == 0:
            return
        message = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
        key = _error_key(code, message)
        if key is not None and str(key) not in ERRORS and _TOO_FAST.search(message):
            raise RateLimited(THROTTLE_S, message)
        raise body_error(ERRORS, reply, code=key, message=message, retry_after_s=RETRY_AFTER_S)

    async def publish(
        self,
        post: RenderedPost,
        config: DingtalkConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        await self._send(dict(post.payload), config, session)
        return PublishResult(kind=self.kind, remote_id=delivery_id(idempotency_key))

    async def delete(
        self, remote_id: str, config: DingtalkConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError("delete_unsupported", "DingTalk robot messages cannot be retracted")

    async def check_credentials(
        self, config: DingtalkConfig, session: aiohttp.ClientSession
    ) -> None:
        """Send a signed message of no known type: a live robot with the right secret refuses
        the type (400105); a dead token or wrong secret is Misconfigured."""
        try:
            await self._send({"msgtype": "none"}, config, session)
        except PermanentError as exc:
            if isinstance(exc, Misconfigured):
                raise
