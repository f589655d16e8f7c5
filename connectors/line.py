"""LINE Messaging API push: one Flex message (a product bubble) to a user, group or room.

Contract (shared/channels/global.md §8): ``POST /v2/bot/message/push`` with
``Authorization: Bearer <channel access token>`` and ``X-Line-Retry-Key`` (a UUID; we derive
it from the share target's idempotency key, so a resend carries the same key). Success is
200 ``{"sentMessages": [{"id", "quoteToken"}]}``; a key LINE already accepted answers 409 with
``X-Line-Accepted-Request-Id``, which means the original request went through: we return it
as published. Errors are ``{"message", "details": [{"message", "property"}]}``; 429 is either
the monthly message quota ("You have reached your monthly limit.": nothing gets through until
the month changes → `QuotaExhausted` until then, see `quota_resets_at`) or rate limiting
(retry after a second: limits are per second). Push messages cannot be retracted:
`limits.can_delete` is false.

The bubble shows the image (HTTPS only), title, price and description, and a button to the
tracked link; the merchant's template shapes ``altText`` (≤ 1500 characters), the text shown in
notifications and chat lists.
"""

from __future__ import annotations

import copy
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, code_of, parse_retry_after, send
from connectors._template import card_fields
from connectors._text import fit
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError, QuotaExhausted
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "LineConfig", "LineConnector", "quota_resets_at", "retry_key"]

# Message phrases (normalised by `code_of`) first, then HTTP statuses.
ERRORS: ErrorTable = {
    "monthly_limit": ErrorKind.QUOTA_EXHAUSTED,  # 429 "You have reached your monthly limit."
    "invalid_retry_key": ErrorKind.PERMANENT,  # 400 on a malformed X-Line-Retry-Key
    400: ErrorKind.PERMANENT,
    401: ErrorKind.AUTH_EXPIRED,
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.MISCONFIGURED,  # unknown destination
    413: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
}
_RATE_WAIT_S = 1.0  # rate limits are per second; LINE sends no Retry-After
_MAX_ALT = 1500
_MAX_URI = 1000
_MAX_IMAGE_URL = 2000
_TOKEN = re.compile(r"^[A-Za-z0-9+/=_.-]{20,400}$")
# LINE's documents do not say in which time zone the monthly message quota resets. LINE is a
# Japanese service, so we take the start of the next month in Japan time (UTC+9, no DST).
_QUOTA_ZONE = timezone(timedelta(hours=9), "JST")
_NAMESPACE = uuid.UUID("6f1c1d8e-5a0e-4c35-9a43-2c7b3a2d9e51")  # retry keys of this hub


def retry_key(idempotency_key: str) -> str:
    """The ``X-Line-Retry-Key`` for a share target: a UUID stable for its idempotency key."""
    return str(uuid.uuid5(_NAMESPACE, idempotency_key))


def quota_resets_at(now: datetime) -> datetime:
    """When the monthly message quota in force at `now` (aware) resets: the first day of the
    next month, 00:00 Japan time."""
    local = now.astimezone(_QUOTA_ZONE)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=_QUOTA_ZONE)


def _channel_now(reply: Reply) -> datetime:
    """The channel's clock (its ``Date`` header), which decides when its month ends; ours when
    it sends none we can read."""
    try:
        sent = parsedate_to_datetime(reply.header("Date") or "")
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)


def _quota_exhausted(reply: Reply) -> QuotaExhausted:
    now = _channel_now(reply)
    resets = quota_resets_at(now)
    return QuotaExhausted(
        (resets - now).total_seconds(),
        f"LINE monthly message limit reached; resumes {resets:%Y-%m-%d %H:%M} JST",
    )


class LineConfig(ConnectorConfig):
    """A channel access token and the destination (userId ``U…``, groupId ``C…``, roomId
    ``R…``)."""

    channel_access_token: SecretStr
    to: str = Field(pattern=r"^[UCR][0-9a-f]{32}$")
    notification_disabled: bool = False
    button_label: str = Field(default="View", min_length=1, max_length=40)

    @field_validator("channel_access_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _TOKEN, "a LINE channel access token")


def _message_code(message: str) -> str | None:
    normalised = code_of(message)
    if "monthly_limit" in normalised:
        return "monthly_limit"
    if "retry_key" in normalised:
        return "invalid_retry_key"
    return None


def _error(reply: Reply, *, retry_safe: bool) -> Exception:
    body = reply.json()
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    details = body.get("details") if isinstance(body, dict) else None
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        message = f"{message}: {first.get('property', '')} {first.get('message', '')}".strip()
    code = _message_code(message)
    if code == "monthly_limit":
        return _quota_exhausted(reply)
    hint = parse_retry_after(reply.header("Retry-After"))
    return classify(
        ERRORS,
        status=reply.status,
        code=code,
        message=message[:300],
        retry_after_s=hint if hint else _RATE_WAIT_S,
        retry_safe=retry_safe,
    )


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, "wrap": True, **style}


def _bubble(card: Card, link: str, price: str, label: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(fit(card.title.strip(), 200, len), weight="bold", size="lg")
    ]
    if price:
        body.append(_text(price, size="md", color="#1DB446"))
    description = fit(card.description.strip(), 400, len)
    if description:
        body.append(_text(description, size="sm", color="#666666", maxLines=6))
    bubble: dict[str, Any] = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "action": {"type": "uri", "label": label, "uri": link},
                }
            ],
        },
    }
    image = card.image_url
    if image is not None and image.startswith("https://") and len(image) <= _MAX_IMAGE_URL:
        bubble["hero"] = {
            "type": "image",
            "url": image,
            "size": "full",
            "aspectRatio": "20:13",
            "aspectMode": "cover",
            "action": {"type": "uri", "label": "image", "uri": link},
        }
    return bubble


@register
class LineConnector(Connector[LineConfig]):
    kind = "line"
    limits = ChannelLimits(
        max_text=_MAX_ALT,  # altText; the bubble's texts are cut separately
        text_unit=TextUnit.CHARS,
        markup=Markup.PLAIN,
        max_media=1,
        media_types=("image/jpeg", "image/png"),
        rate=Rate(2000, 1.0),  # per channel; push's class is unconfirmed
        has_idempotency_key=True,
        can_delete=False,
        base_url="https://api.line.me",
    )
    config_model = LineConfig
    errors = ERRORS
    default_template = "$title\n$price\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        if len(link) > _MAX_URI:
            raise PermanentError("link_too_long", f"LINE accepts URIs of at most {_MAX_URI}")
        alt = self.compose_text(card, link, template, budget=_MAX_ALT)
        price = card_fields(card, link)["price"]
        message = {
            "type": "flex",
            "altText": alt.plain,
            "contents": _bubble(card, link, price, "View"),
        }
        return RenderedPost(
            kind=self.kind,
            payload={"messages": [message]},
            text=alt.plain,
            text_limit=_MAX_ALT,
            link=link,
            image_url=card.image_url,
        )

    def _headers(self, config: LineConfig) -> dict[str, str]:
        return {"Authorization": f"Bearer {config.channel_access_token.get_secret_value()}"}

    async def publish(
        self,
        post: RenderedPost,
        config: LineConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        messages = copy.deepcopy([dict(m) for m in post.payload["messages"]])
        for message in messages:
            contents = message.get("contents")
            if isinstance(contents, dict) and "footer" in contents:
                button = contents["footer"]["contents"][0]
                button["action"] = {**button["action"], "label": config.button_label}
        body = {
            "to": config.to,
            "messages": messages,
            "notificationDisabled": config.notification_disabled,
        }
        headers = self._headers(config)
        if idempotency_key is not None:
            headers["X-Line-Retry-Key"] = retry_key(idempotency_key)
        reply = await send(
            session,
            "POST",
            f"{self.base_url(config)}/v2/bot/message/push",
            json_body=body,
            headers=headers,
            client_timeout=self.client_timeout(config),
            retry_safe=idempotency_key is not None,
        )
        answer = reply.json()
        if reply.status in (200, 409) and isinstance(answer, dict):
            return self._result(reply, answer)
        raise _error(reply, retry_safe=idempotency_key is not None)

    def _result(self, reply: Reply, answer: dict[str, Any]) -> PublishResult:
        request_id = reply.header("X-Line-Request-Id") or ""
        accepted = reply.header("X-Line-Accepted-Request-Id")
        sent = answer.get("sentMessages")
        first = sent[0] if isinstance(sent, list) and sent and isinstance(sent[0], dict) else {}
        message_id = first.get("id")
        if reply.status == 409:
            if not accepted:
                raise PermanentError("conflict", str(answer.get("message", "409 Conflict")))
            request_id = accepted  # the original request, which was delivered
        remote_id = str(message_id) if message_id else f"request:{request_id}"
        if remote_id == "request:":
            raise PermanentError("unexpected_response", "LINE answered without a message id")
        raw = {"request_id": request_id, "already_accepted": reply.status == 409}
        return PublishResult(self.kind, remote_id, None, raw)

    async def delete(
        self, remote_id: str, config: LineConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError(
            "delete_unsupported", "LINE push messages cannot be retracted through the API"
        )

    async def check_credentials(self, config: LineConfig, session: aiohttp.ClientSession) -> None:
        reply = await send(
            session,
            "GET",
            f"{self.base_url(config)}/v2/bot/info",
            headers=self._headers(config),
            client_timeout=self.client_timeout(config),
        )
        if reply.status != 200:
            raise _error(reply, retry_safe=False)
