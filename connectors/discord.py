"""Discord webhooks: execute with ``?wait=true`` (one rich embed), delete the message, read the
webhook to check it.

Contract (shared/channels/global.md §2): the webhook URL is the credential
(``/webhooks/{id}/{token}``). Embed title ≤ 256, description ≤ 4096, all embed text ≤ 6000,
content ≤ 2000; counted here in UTF-16 units (the unit is unconfirmed; UTF-16 is never less
than code points). Errors are ``{"code", "message", "errors"}``; 429 carries ``retry_after``
(float seconds) and a Retry-After header. No idempotency key for webhooks.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from pydantic import SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors._text import fit, measure
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "DiscordConfig", "DiscordConnector"]

# JSON error codes (as strings) first, then HTTP statuses.
ERRORS: ErrorTable = {
    "50035": ErrorKind.PERMANENT,  # Invalid Form Body
    "50006": ErrorKind.PERMANENT,  # Cannot send an empty message
    "50027": ErrorKind.MISCONFIGURED,  # Invalid Webhook Token
    "10015": ErrorKind.MISCONFIGURED,  # Unknown Webhook (deleted)
    "10008": ErrorKind.PERMANENT,  # Unknown Message (delete: already gone)
    400: ErrorKind.PERMANENT,
    401: ErrorKind.MISCONFIGURED,
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.MISCONFIGURED,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
_GONE = {"10008"}
_WEBHOOK_URL = re.compile(
    r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/[\w-]+"
)
_PATH = re.compile(r"/webhooks/(\d+)/([\w-]+)$")
_MAX_TITLE = 256
_MAX_DESCRIPTION = 4096
_BRAND_COLOUR = 0x5865F2


class DiscordConfig(ConnectorConfig):
    """The webhook URL as Discord shows it; optional thread and display name."""

    webhook_url: SecretStr
    thread_id: str | None = None
    username: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _WEBHOOK_URL, "a Discord webhook URL")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and re.search("clyde|discord", value, re.IGNORECASE):
            raise ValueError("webhook usernames may not contain 'clyde' or 'discord'")
        return value


def _error(reply: Reply) -> Exception:
    body = reply.json()
    code: str | None = None
    message = ""
    retry_after_s = parse_retry_after(reply.header("Retry-After"))
    if isinstance(body, dict):
        if isinstance(body.get("code"), int) and body["code"]:
            code = str(body["code"])
        message = str(body.get("message", ""))
        if isinstance(body.get("retry_after"), int | float):
            retry_after_s = float(body["retry_after"])
    return classify(
        ERRORS, status=reply.status, code=code, message=message, retry_after_s=retry_after_s
    )


@register
class DiscordConnector(Connector[DiscordConfig]):
    kind = "discord"
    limits = ChannelLimits(
        max_text=_MAX_DESCRIPTION,
        text_unit=TextUnit.UTF16,
        markup=Markup.MARKDOWN,
        max_media=1,
        media_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        rate=Rate(5, 2.0),  # advisory; Discord's headers rule
        has_idempotency_key=False,
        can_delete=True,
        base_url="https://discord.com/api/v10",
    )
    config_model = DiscordConfig
    errors = ERRORS
    default_template = "$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        text = self.compose_text(card, link, template, budget=_MAX_DESCRIPTION, count_marked=True)
        title = fit(card.title.strip(), _MAX_TITLE, lambda s: measure(s, TextUnit.UTF16))
        embed: dict[str, Any] = {
            "title": title,
            "url": link,
            "description": text.marked,
            "color": _BRAND_COLOUR,
        }
        if card.image_url:
            embed["image"] = {"url": card.image_url}
        payload = {"embeds": [embed], "allowed_mentions": {"parse": []}}
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=text.marked,
            text_limit=_MAX_DESCRIPTION,
            link=link,
            image_url=card.image_url,
        )

    def _webhook(self, config: DiscordConfig) -> str:
        match = _PATH.search(config.webhook_url.get_secret_value())
        assert match is not None  # validated by the config model
        return f"{self.base_url(config)}/webhooks/{match.group(1)}/{match.group(2)}"

    def _query(self, config: DiscordConfig, **extra: str) -> str:
        params = dict(extra)
        if config.thread_id:
            params["thread_id"] = config.thread_id
        return "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""

    async def publish(
        self,
        post: RenderedPost,
        config: DiscordConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        body: dict[str, Any] = dict(post.payload)
        if config.username:
            body["username"] = config.username
        reply = await send(
            session,
            "POST",
            self._webhook(config) + self._query(config, wait="true"),
            json_body=body,
            client_timeout=self.client_timeout(config),
        )
        message = reply.json()
        if reply.status != 200:
            raise _error(reply)
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            raise PermanentError("unexpected_response", "Discord answered without a message id")
        channel_id, guild_id = message.get("channel_id"), message.get("guild_id")
        url = None
        if isinstance(channel_id, str) and isinstance(guild_id, str):
            url = f"https://discord.com/channels/{guild_id}/{channel_id}/{message['id']}"
        return PublishResult(
            kind=self.kind,
            remote_id=message["id"],
            remote_url=url,
            raw={"id": message["id"], "channel_id": channel_id},
        )

    async def delete(
        self, remote_id: str, config: DiscordConfig, session: aiohttp.ClientSession
    ) -> None:
        if not remote_id.isdigit():
            raise PermanentError("bad_remote_id", "expected a Discord message id")
        reply = await send(
            session,
            "DELETE",
            f"{self._webhook(config)}/messages/{remote_id}{self._query(config)}",
            client_timeout=self.client_timeout(config),
        )
        if reply.status in (200, 204):
            return
        error = _error(reply)
        if isinstance(error, PermanentError) and error.code in _GONE:
            return
        raise error

    async def check_credentials(
        self, config: DiscordConfig, session: aiohttp.ClientSession
    ) -> None:
        reply = await send(
            session, "GET", self._webhook(config), client_timeout=self.client_timeout(config)
        )
        if reply.status != 200:
            raise _error(reply)
