"""Telegram Bot API: `sendMessage` / `sendPhoto` in HTML mode, `deleteMessage`, `getMe`.

Contract (shared/channels/global.md §1): token in the path (``/bot<token>/<method>``); answers
``{"ok": true, "result": Message}`` or ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}`` with the HTTP status mirroring `error_code`. Text ≤ 4096 and
caption ≤ 1024 "characters after entity parsing", counted here in UTF-16 units to be safe.
No idempotency key: a timeout after sending is `OutcomeUnknown(retry_safe=False)`.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, code_of, parse_retry_after, send
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "TelegramConfig", "TelegramConnector"]

# Description phrases (normalised by `code_of`) first, then HTTP statuses.
ERRORS: ErrorTable = {
    "can_t_parse_entities": ErrorKind.PERMANENT,
    "message_is_too_long": ErrorKind.PERMANENT,
    "message_caption_is_too_long": ErrorKind.PERMANENT,
    "wrong_file_identifier_http_url_specified": ErrorKind.PERMANENT,
    "failed_to_get_http_url_content": ErrorKind.PERMANENT,
    "message_to_delete_not_found": ErrorKind.PERMANENT,
    "message_can_t_be_deleted": ErrorKind.PERMANENT,
    "chat_not_found": ErrorKind.MISCONFIGURED,
    "group_chat_was_upgraded_to_a_supergroup_chat": ErrorKind.MISCONFIGURED,
    "bot_was_blocked_by_the_user": ErrorKind.MISCONFIGURED,
    "bot_was_kicked_from_the_group_chat": ErrorKind.MISCONFIGURED,
    "bot_is_not_a_member_of_the_channel_chat": ErrorKind.MISCONFIGURED,
    "not_enough_rights_to_send": ErrorKind.MISCONFIGURED,
    400: ErrorKind.PERMANENT,
    401: ErrorKind.AUTH_EXPIRED,
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.AUTH_EXPIRED,  # malformed token or unknown method
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
_PHRASES = sorted((k for k in ERRORS if isinstance(k, str)), key=len, reverse=True)
_BAD_PHOTO = {"wrong_file_identifier_http_url_specified", "failed_to_get_http_url_content"}
_GONE = {"message_to_delete_not_found"}
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class TelegramConfig(ConnectorConfig):
    """A bot token and the chat (numeric id, ``-100…`` for channels, or ``@username``)."""

    token: SecretStr
    chat_id: str = Field(pattern=r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,})$")
    disable_notification: bool = False

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _TOKEN, "a bot token such as 123456:ABC-def")


def _code(description: str) -> str:
    normalised = code_of(description)
    for phrase in _PHRASES:
        if phrase in normalised:
            return phrase
    return normalised


def _error(reply: Reply) -> Exception:
    body = reply.json()
    if not isinstance(body, dict):
        return classify(ERRORS, status=reply.status)
    description = str(body.get("description", ""))
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    retry_after = params.get("retry_after") if isinstance(params, dict) else None
    retry_after_s = (
        float(retry_after)
        if isinstance(retry_after, int | float)
        else parse_retry_after(reply.header("Retry-After"))
    )
    error_code = body.get("error_code")
    return classify(
        ERRORS,
        status=error_code if isinstance(error_code, int) else reply.status,
        code=_code(description) if description else None,
        message=description,
        retry_after_s=retry_after_s,
    )


def _message_url(chat: dict[str, Any], message_id: int) -> str | None:
    username = chat.get("username")
    if isinstance(username, str) and username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = str(chat.get("id", ""))
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return None


@register
class TelegramConnector(Connector[TelegramConfig]):
    kind = "telegram"
    limits = ChannelLimits(
        max_text=4096,
        max_caption=1024,
        text_unit=TextUnit.UTF16,
        markup=Markup.TELEGRAM_HTML,
        max_media=1,
        media_types=("image/jpeg", "image/png", "image/webp"),
        rate=Rate(20, 60.0),  # 20 messages/minute to one group; ~1/s per chat
        has_idempotency_key=False,
        can_delete=True,
        base_url="https://api.telegram.org",
    )
    config_model = TelegramConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        with_photo = card.image_url is not None
        budget = self.limits.max_caption if with_photo else self.limits.max_text
        assert budget is not None
        text = self.compose_text(card, link, template, budget=budget)
        body: dict[str, Any] = {"parse_mode": "HTML"}
        if with_photo:
            method = "sendPhoto"
            body.update(photo=card.image_url, caption=text.marked)
        else:
            method = "sendMessage"
            body.update(
                text=text.marked,
                link_preview_options={"url": link, "prefer_large_media": True},
            )
        return RenderedPost(
            kind=self.kind,
            payload={"method": method, "body": body},
            text=text.plain,
            text_limit=budget,
            link=link,
            image_url=card.image_url,
        )

    async def _call(
        self,
        method: str,
        body: dict[str, Any],
        config: TelegramConfig,
        session: aiohttp.ClientSession,
    ) -> Any:
        url = f"{self.base_url(config)}/bot{config.token.get_secret_value()}/{method}"
        reply = await send(
            session, "POST", url, json_body=body, client_timeout=self.client_timeout(config)
        )
        answer = reply.json()
        if reply.status == 200 and isinstance(answer, dict) and answer.get("ok") is True:
            return answer.get("result")
        raise _error(reply)

    async def publish(
        self,
        post: RenderedPost,
        config: TelegramConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        method = str(post.payload["method"])
        body = {**post.payload["body"], "chat_id": config.chat_id}
        if config.disable_notification:
            body["disable_notification"] = True
        try:
            message = await self._call(method, body, config, session)
        except PermanentError as exc:
            if method != "sendPhoto" or exc.code not in _BAD_PHOTO:
                raise
            # Telegram could not fetch the image: nothing was posted, send the text alone.
            method = "sendMessage"
            body = {
                "chat_id": config.chat_id,
                "parse_mode": "HTML",
                "text": body["caption"],
                "link_preview_options": {"url": post.link, "prefer_large_media": True},
            }
            message = await self._call(method, body, config, session)
        if not isinstance(message, dict) or not isinstance(message.get("message_id"), int):
            raise PermanentError("unexpected_response", "Telegram answered without a message_id")
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        assert isinstance(chat, dict)
        chat_id = str(chat.get("id", config.chat_id))
        message_id = int(message["message_id"])
        return PublishResult(
            kind=self.kind,
            remote_id=f"{chat_id}:{message_id}",
            remote_url=_message_url(chat, message_id),
            raw={"chat_id": chat_id, "message_id": message_id, "method": method},
        )

    async def delete(
        self, remote_id: str, config: TelegramConfig, session: aiohttp.ClientSession
    ) -> None:
        chat_id, _, message_id = remote_id.rpartition(":")
        if not chat_id or not message_id.isdigit():
            raise PermanentError("bad_remote_id", "expected '<chat_id>:<message_id>'")
        try:
            await self._call(
                "deleteMessage",
                {"chat_id": chat_id, "message_id": int(message_id)},
                config,
                session,
            )
        except PermanentError as exc:
            if exc.code not in _GONE:
                raise

    async def check_credentials(
        self, config: TelegramConfig, session: aiohttp.ClientSession
    ) -> None:
        await self._call("getMe", {}, config, session)
        await self._call("getChat", {"chat_id": config.chat_id}, config, session)
