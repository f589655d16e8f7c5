"""A generic outbound webhook signed per the Standard Webhooks spec.

Each delivery is a JSON POST ``{"type", "timestamp", "data"}`` with the headers
``webhook-id`` (the message id: the share target's idempotency key, so a resend is recognised
by the receiver), ``webhook-timestamp`` (unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``), keyed by the base64 part of a
``whsec_`` secret. Retract sends a signed ``share.deleted`` event.

Receiver answers: any 2xx is success; 410 means the endpoint is gone for good (disable it);
401/403 means the signature or secret is refused; 429 with Retry-After slows us down; 408 and
5xx are transient.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError
from connectors.limits import ChannelLimits, Markup, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "WebhookConfig", "WebhookConnector", "sign"]

ERRORS: ErrorTable = {
    400: ErrorKind.PERMANENT,
    401: ErrorKind.AUTH_EXPIRED,  # signature refused: the secret was rotated
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.MISCONFIGURED,
    408: ErrorKind.TRANSIENT,
    410: ErrorKind.MISCONFIGURED,  # endpoint gone: disable it
    413: ErrorKind.PERMANENT,
    422: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
    504: ErrorKind.TRANSIENT,
}
_MAX_TEXT = 4000
_MSG_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def _key(secret: SecretStr) -> bytes:
    value = secret.get_secret_value()
    if not value.startswith("whsec_"):
        raise ValueError("expected a secret of the form whsec_<base64>")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected a secret of the form whsec_<base64>") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("the secret must decode to 24-64 bytes")
    return key


def sign(secret: SecretStr, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookConfig(ConnectorConfig):
    """The receiver's URL and the shared ``whsec_`` signing secret."""

    url: str = Field(pattern=r"^https?://[^\s]+$")
    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr) -> SecretStr:
        _key(value)
        return value


def _error(reply: Reply, retry_safe: bool) -> Exception:
    body = reply.json()
    code = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code_value = body["error"].get("code")
        code = code_value if isinstance(code_value, str) else None
    return classify(
        ERRORS,
        status=reply.status,
        code=code,
        message=reply.text[:200],
        retry_after_s=parse_retry_after(reply.header("Retry-After")),
        retry_safe=retry_safe,
    )


@register
class WebhookConnector(Connector[WebhookConfig]):
    kind = "webhook"
    limits = ChannelLimits(
        max_text=_MAX_TEXT,
        text_unit=TextUnit.CHARS,
        markup=Markup.JSON,
        has_idempotency_key=True,
        can_delete=True,
        base_url="",  # the receiver's URL is in the config
    )
    config_model = WebhookConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        text = self.compose_text(card, link, template, budget=_MAX_TEXT)
        data = {
            "title": card.title,
            "description": card.description,
            "price": str(card.price) if card.price is not None else None,
            "currency": card.currency,
            "image_url": card.image_url,
            "product_url": card.product_url,
            "tags": list(card.tags),
            "locale": card.locale,
            "link": link,
            "text": text.plain,
        }
        return RenderedPost(
            kind=self.kind,
            payload={"type": "share.published", "data": data},
            text=text.plain,
            text_limit=_MAX_TEXT,
            link=link,
            image_url=card.image_url,
        )

    async def _deliver(
        self,
        event: dict[str, Any],
        msg_id: str,
        config: WebhookConfig,
        session: aiohttp.ClientSession,
        *,
        retry_safe: bool,
    ) -> Reply:
        if not _MSG_ID.match(msg_id):
            raise PermanentError("bad_message_id", "message ids are 1-128 URL-safe characters")
        now = time.time()
        body = json.dumps(
            {**event, "timestamp": datetime.fromtimestamp(now, UTC).isoformat()},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        timestamp = int(now)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(config.secret, msg_id, timestamp, body),
        }
        reply = await send(
            session,
            "POST",
            config.url,
            data=body,
            headers=headers,
            client_timeout=self.client_timeout(config),
            retry_safe=retry_safe,
        )
        if not 200 <= reply.status < 300:
            raise _error(reply, retry_safe)
        return reply

    async def publish(
        self,
        post: RenderedPost,
        config: WebhookConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        msg_id = idempotency_key or f"msg_{uuid.uuid4().hex}"
        reply = await self._deliver(
            dict(post.payload), msg_id, config, session, retry_safe=idempotency_key is not None
        )
        answer = reply.json()
        url = answer.get("url") if isinstance(answer, dict) else None
        return PublishResult(
            kind=self.kind,
            remote_id=msg_id,
            remote_url=url if isinstance(url, str) else None,
            raw={"status": reply.status},
        )

    async def delete(
        self, remote_id: str, config: WebhookConfig, session: aiohttp.ClientSession
    ) -> None:
        event = {"type": "share.deleted", "data": {"id": remote_id}}
        await self._deliver(event, f"{remote_id}.deleted", config, session, retry_safe=True)

    async def check_credentials(
        self, config: WebhookConfig, session: aiohttp.ClientSession
    ) -> None:
        event = {"type": "webhook.ping", "data": {}}
        await self._deliver(event, f"ping_{uuid.uuid4().hex}", config, session, retry_safe=True)
