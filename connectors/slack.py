"""Slack: `chat.postMessage` / `chat.delete` / `auth.test` with a bot token (kind ``slack``),
and incoming webhooks (kind ``slack_webhook``; no message id comes back, so no retract).

Contract (shared/channels/global.md §3): Web API errors are HTTP 200 ``{"ok": false, "error"}``
except 429 (``ratelimited`` + Retry-After); webhook errors are plain-text bodies with a 4xx/5xx
status and success is the body ``ok``. Text is mrkdwn escaped for ``& < >`` only; a section's
text is ≤ 3000 characters as typed (the escapes and the ``<url>`` brackets count).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import aiohttp
from pydantic import SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors._text import fit
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = [
    "API_ERRORS",
    "WEBHOOK_ERRORS",
    "SlackConfig",
    "SlackConnector",
    "SlackWebhookConfig",
    "SlackWebhookConnector",
]

API_ERRORS: ErrorTable = {
    "not_authed": ErrorKind.AUTH_EXPIRED,
    "invalid_auth": ErrorKind.AUTH_EXPIRED,
    "token_revoked": ErrorKind.AUTH_EXPIRED,
    "token_expired": ErrorKind.AUTH_EXPIRED,
    "account_inactive": ErrorKind.AUTH_EXPIRED,
    "missing_scope": ErrorKind.MISCONFIGURED,
    "not_allowed_token_type": ErrorKind.MISCONFIGURED,
    "no_permission": ErrorKind.MISCONFIGURED,
    "ekm_access_denied": ErrorKind.MISCONFIGURED,
    "restricted_action": ErrorKind.MISCONFIGURED,
    "channel_not_found": ErrorKind.MISCONFIGURED,
    "not_in_channel": ErrorKind.MISCONFIGURED,
    "is_archived": ErrorKind.MISCONFIGURED,
    "msg_too_long": ErrorKind.PERMANENT,
    "no_text": ErrorKind.PERMANENT,
    "too_many_attachments": ErrorKind.PERMANENT,
    "invalid_blocks": ErrorKind.PERMANENT,
    "invalid_blocks_format": ErrorKind.PERMANENT,
    "msg_blocks_too_long": ErrorKind.PERMANENT,
    "invalid_arguments": ErrorKind.PERMANENT,
    "message_not_found": ErrorKind.PERMANENT,  # delete: already gone
    "cant_delete_message": ErrorKind.PERMANENT,
    "ratelimited": ErrorKind.RATE_LIMITED,
    "internal_error": ErrorKind.TRANSIENT,
    "fatal_error": ErrorKind.OUTCOME_UNKNOWN,  # "some aspect may have succeeded"
    "service_unavailable": ErrorKind.TRANSIENT,
    "request_timeout": ErrorKind.TRANSIENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
}
WEBHOOK_ERRORS: ErrorTable = {
    "invalid_payload": ErrorKind.PERMANENT,
    "user_not_found": ErrorKind.PERMANENT,
    "missing_text_or_fallback_or_attachments": ErrorKind.PERMANENT,
    "invalid_blocks": ErrorKind.PERMANENT,
    "invalid_blocks_format": ErrorKind.PERMANENT,
    "no_text": ErrorKind.PERMANENT,
    "too_many_attachments": ErrorKind.PERMANENT,
    "action_prohibited": ErrorKind.MISCONFIGURED,
    "invalid_token": ErrorKind.MISCONFIGURED,
    "channel_not_found": ErrorKind.MISCONFIGURED,
    "no_service": ErrorKind.MISCONFIGURED,
    "channel_is_archived": ErrorKind.PERMANENT,
    "rollup_error": ErrorKind.TRANSIENT,
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.MISCONFIGURED,
    410: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
}
_GONE = {"message_not_found"}
# A webhook POST of `{}` is refused with one of these when the webhook itself is alive.
_ALIVE = {"invalid_payload", "no_text", "missing_text_or_fallback_or_attachments"}
_TOKEN = re.compile(r"xox[bp]-[A-Za-z0-9-]+")
_HOOK = re.compile(r"https://hooks\.slack\.com(/services/T\w+/B\w+/\w+)")
_CODE = re.compile(r"^[a-z_]+$")
_SECTION_CHARS = 3000
_ALT_TEXT_CHARS = 2000

LIMITS = ChannelLimits(
    max_text=_SECTION_CHARS,
    text_unit=TextUnit.CHARS,
    markup=Markup.SLACK_MRKDWN,
    max_media=1,
    media_types=("image/png", "image/jpeg", "image/gif"),
    rate=Rate(1, 1.0),  # ~1 message per second per channel
    has_idempotency_key=False,
    can_delete=True,
    base_url="https://slack.com/api",
)


def _render(
    kind: str,
    connector: Connector[Any],
    card: Card,
    link: str,
    template: str | None,
) -> RenderedPost:
    text = connector.compose_text(card, link, template, budget=_SECTION_CHARS, count_marked=True)
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text.marked}}
    if card.image_url:
        alt = fit(card.title.strip(), _ALT_TEXT_CHARS, len)
        section["accessory"] = {"type": "image", "image_url": card.image_url, "alt_text": alt}
    payload = {
        "text": text.marked,
        "blocks": [section],
        "unfurl_links": False,
        "unfurl_media": False,
    }
    return RenderedPost(
        kind=kind,
        payload=payload,
        text=text.marked,
        text_limit=_SECTION_CHARS,
        link=link,
        image_url=card.image_url,
    )


class SlackConfig(ConnectorConfig):
    """A bot (``xoxb-``) or user (``xoxp-``) token with ``chat:write``, and a channel id."""

    token: SecretStr
    channel: str

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _TOKEN, "a Slack token starting with xoxb- or xoxp-")


@register
class SlackConnector(Connector[SlackConfig]):
    kind = "slack"
    limits = LIMITS
    config_model = SlackConfig
    errors = API_ERRORS

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        return _render(self.kind, self, card, link, template)

    async def _call(
        self, method: str, body: dict[str, Any], config: SlackConfig, session: aiohttp.ClientSession
    ) -> dict[str, Any]:
        reply = await send(
            session,
            "POST",
            f"{self.base_url(config)}/{method}",
            json_body=body,
            headers={"Authorization": f"Bearer {config.token.get_secret_value()}"},
            client_timeout=self.client_timeout(config),
        )
        answer = reply.json()
        if reply.status == 200 and isinstance(answer, dict) and answer.get("ok") is True:
            return answer
        code = answer.get("error") if isinstance(answer, dict) else None
        raise classify(
            API_ERRORS,
            status=reply.status,
            code=code if isinstance(code, str) else None,
            retry_after_s=parse_retry_after(reply.header("Retry-After")),
        )

    async def publish(
        self,
        post: RenderedPost,
        config: SlackConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        answer = await self._call(
            "chat.postMessage", {**post.payload, "channel": config.channel}, config, session
        )
        channel, ts = answer.get("channel"), answer.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            raise PermanentError("unexpected_response", "Slack answered without channel and ts")
        return PublishResult(
            kind=self.kind,
            remote_id=f"{channel}:{ts}",
            remote_url=None,
            raw={"channel": channel, "ts": ts},
        )

    async def delete(
        self, remote_id: str, config: SlackConfig, session: aiohttp.ClientSession
    ) -> None:
        channel, _, ts = remote_id.partition(":")
        if not channel or not ts:
            raise PermanentError("bad_remote_id", "expected '<channel>:<ts>'")
        try:
            await self._call("chat.delete", {"channel": channel, "ts": ts}, config, session)
        except PermanentError as exc:
            if exc.code not in _GONE:
                raise

    async def check_credentials(self, config: SlackConfig, session: aiohttp.ClientSession) -> None:
        await self._call("auth.test", {}, config, session)


class SlackWebhookConfig(ConnectorConfig):
    """An incoming-webhook URL (``https://hooks.slack.com/services/T…/B…/…``)."""

    webhook_url: SecretStr

    @field_validator("webhook_url")
    @classmethod
    def _url_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _HOOK, "a Slack incoming-webhook URL")


def _webhook_error(reply: Reply) -> Exception:
    text = reply.text.strip()
    return classify(
        WEBHOOK_ERRORS,
        status=reply.status,
        code=text if _CODE.match(text) else None,
        retry_after_s=parse_retry_after(reply.header("Retry-After")),
    )


@register
class SlackWebhookConnector(Connector[SlackWebhookConfig]):
    kind = "slack_webhook"
    limits = ChannelLimits(
        max_text=LIMITS.max_text,
        text_unit=LIMITS.text_unit,
        markup=LIMITS.markup,
        max_media=LIMITS.max_media,
        media_types=LIMITS.media_types,
        rate=LIMITS.rate,
        has_idempotency_key=False,
        can_delete=False,
        base_url="https://hooks.slack.com",
    )
    config_model = SlackWebhookConfig
    errors = WEBHOOK_ERRORS

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        return _render(self.kind, self, card, link, template)

    def _url(self, config: SlackWebhookConfig) -> str:
        match = _HOOK.fullmatch(config.webhook_url.get_secret_value())
        assert match is not None  # validated by the config model
        return self.base_url(config) + match.group(1)

    async def _post(
        self, body: dict[str, Any], config: SlackWebhookConfig, session: aiohttp.ClientSession
    ) -> Reply:
        return await send(
            session,
            "POST",
            self._url(config),
            json_body=body,
            client_timeout=self.client_timeout(config),
        )

    async def publish(
        self,
        post: RenderedPost,
        config: SlackWebhookConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        reply = await self._post(dict(post.payload), config, session)
        if reply.status != 200 or reply.text.strip() != "ok":
            raise _webhook_error(reply)
        # Slack returns no id for webhook posts; ours only names the delivery.
        return PublishResult(kind=self.kind, remote_id=idempotency_key or uuid.uuid4().hex)

    async def delete(
        self, remote_id: str, config: SlackWebhookConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError("delete_unsupported", "Slack incoming webhooks cannot retract")

    async def check_credentials(
        self, config: SlackWebhookConfig, session: aiohttp.ClientSession
    ) -> None:
        reply = await self._post({}, config, session)
        error = _webhook_error(reply)
        if isinstance(error, PermanentError) and error.code in _ALIVE:
            return
        raise error
