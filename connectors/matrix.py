"""Matrix client-server API: one ``m.room.message`` event per card (``m.text``, or ``m.image``
with the card as its caption), sent with ``PUT …/send/m.room.message/{txnId}``; retraction by
redaction; ``whoami`` and ``joined_rooms`` to check the account.

Contract (shared/channels/global.md §5): Bearer access token; the transaction id is the share
target's idempotency key, so a resend returns the first ``event_id`` instead of posting again
(a timeout after sending is `OutcomeUnknown(retry_safe=True)`). Text is sent twice, as plain
``body`` and as ``formatted_body`` in ``org.matrix.custom.html``. The whole event must stay under
65,536 bytes of canonical JSON, so the content (both texts, JSON-encoded) is kept within
`ChannelLimits.max_text` bytes. Images are uploaded first (``POST /_matrix/media/v3/upload``)
and referenced by their ``mxc://`` URI. Errors are ``{"errcode": "M_…", "error": "…"}``;
``M_UNKNOWN`` is classified by its HTTP status, as the spec advises.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors._media import fetch_image_or_none
from connectors._template import Composed, card_fields, compose, dialect_for
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, Misconfigured, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "MatrixConfig", "MatrixConnector", "content_bytes"]

# errcodes first (M_UNKNOWN deliberately absent: its HTTP status decides), then statuses.
ERRORS: ErrorTable = {
    "M_LIMIT_EXCEEDED": ErrorKind.RATE_LIMITED,
    "M_UNKNOWN_TOKEN": ErrorKind.AUTH_EXPIRED,
    "M_MISSING_TOKEN": ErrorKind.AUTH_EXPIRED,
    "M_FORBIDDEN": ErrorKind.MISCONFIGURED,
    "M_RESOURCE_LIMIT_EXCEEDED": ErrorKind.MISCONFIGURED,
    "M_NOT_JSON": ErrorKind.PERMANENT,
    "M_BAD_JSON": ErrorKind.PERMANENT,
    "M_TOO_LARGE": ErrorKind.PERMANENT,
    "M_NOT_FOUND": ErrorKind.PERMANENT,
    400: ErrorKind.PERMANENT,
    401: ErrorKind.AUTH_EXPIRED,
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.PERMANENT,
    413: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
HTML_FORMAT = "org.matrix.custom.html"
_CLIENT = "/_matrix/client/v3"
_MAX_CONTENT_BYTES = 60_000  # event ≤ 65,536 bytes; the rest is the server's envelope
_MAX_IMAGE_BYTES = 8 << 20
_SEPARATOR = "|"  # remote_id = "<room_id>|<event_id>"


class MatrixConfig(ConnectorConfig):
    """A homeserver, an access token of the posting user and the room to post to."""

    base_url: str = Field(pattern=r"^https?://[^/\s]+/?$")  # the homeserver's client API base
    access_token: SecretStr
    # "!opaque:server", or "!<create event hash>" without a server since room version 12
    room_id: str = Field(pattern=r"^![^\s|:]+(:[^\s|]+)?$")
    msgtype: Literal["m.text", "m.notice"] = "m.text"

    @field_validator("access_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token or any(c.isspace() for c in token) or len(token) > 1024:
            raise ValueError("expected a Matrix access token")
        return value


def _html(composed: Composed) -> str:
    return composed.marked.replace("\n", "<br>")


def _text_content(composed: Composed) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": composed.plain,
        "format": HTML_FORMAT,
        "formatted_body": _html(composed),
    }


def content_bytes(content: dict[str, Any]) -> int:
    """Size of event content as it travels (UTF-8 JSON, non-ASCII unescaped)."""
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _error(reply: Reply, *, retry_safe: bool = False) -> Exception:
    body = reply.json()
    errcode = body.get("errcode") if isinstance(body, dict) else None
    message = body.get("error") if isinstance(body, dict) else None
    retry_after_s = parse_retry_after(reply.header("Retry-After"))
    if retry_after_s is None and isinstance(body, dict):
        retry_ms = body.get("retry_after_ms")  # deprecated since v1.10, still sent
        if isinstance(retry_ms, int | float):
            retry_after_s = retry_ms / 1000
    code = errcode if isinstance(errcode, str) and errcode != "M_UNKNOWN" else None
    return classify(
        ERRORS,
        status=reply.status,
        code=code,
        message=message if isinstance(message, str) else "",
        retry_after_s=retry_after_s,
        retry_safe=retry_safe,
    )


def _txn(value: str) -> str:
    return quote(value, safe="")


@register
class MatrixConnector(Connector[MatrixConfig]):
    kind = "matrix"
    limits = ChannelLimits(
        max_text=_MAX_CONTENT_BYTES,
        text_unit=TextUnit.UTF8_BYTES,
        markup=Markup.MATRIX_HTML,
        max_media=1,
        media_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        rate=Rate(10, 50.0),  # Synapse default rc_message: 0.2/s, burst 10
        has_idempotency_key=True,
        can_delete=True,
        base_url="https://matrix-client.matrix.org",
    )
    config_model = MatrixConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        composed = compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect_for(self.limits.markup),
            budget=self.limits.max_text,
            count=lambda c: content_bytes(_text_content(c)),
        )
        return RenderedPost(
            kind=self.kind,
            payload={"content": _text_content(composed)},
            text=composed.plain,
            text_limit=self.limits.max_text,
            link=link,
            image_url=card.image_url,
        )

    def _headers(self, config: MatrixConfig) -> dict[str, str]:
        return {"Authorization": f"Bearer {config.access_token.get_secret_value()}"}

    async def _call(
        self,
        method: str,
        path: str,
        config: MatrixConfig,
        session: aiohttp.ClientSession,
        *,
        json_body: Any = None,
        retry_safe: bool = False,
    ) -> dict[str, Any]:
        reply = await send(
            session,
            method,
            f"{self.base_url(config)}{path}",
            json_body=json_body,
            headers=self._headers(config),
            client_timeout=self.client_timeout(config),
            retry_safe=retry_safe,
        )
        answer = reply.json()
        if reply.status != 200 or not isinstance(answer, dict):
            raise _error(reply, retry_safe=retry_safe)
        return answer

    async def _image_content(
        self,
        content: dict[str, Any],
        image_url: str,
        config: MatrixConfig,
        session: aiohttp.ClientSession,
    ) -> dict[str, Any]:
        """`content` as an ``m.image`` whose caption is the card; unchanged without an image."""
        image = await fetch_image_or_none(
            session,
            image_url,
            policy=self.media,
            mime_types=self.limits.media_types,
            max_bytes=_MAX_IMAGE_BYTES,
            client_timeout=self.client_timeout(config),
        )
        if image is None:
            return content
        reply = await send(
            session,
            "POST",
            f"{self.base_url(config)}/_matrix/media/v3/upload?filename={quote(image.filename)}",
            data=image.data,
            headers={**self._headers(config), "Content-Type": image.mime},
            client_timeout=self.client_timeout(config),
        )
        answer = reply.json()
        uri = answer.get("content_uri") if isinstance(answer, dict) else None
        if reply.status != 200 or not isinstance(uri, str) or not uri.startswith("mxc://"):
            raise _error(reply)
        return {
            **content,
            "msgtype": "m.image",
            "filename": image.filename,  # differs from body: body is the caption (v1.10)
            "url": uri,
            "info": {"mimetype": image.mime, "size": len(image.data)},
        }

    async def publish(
        self,
        post: RenderedPost,
        config: MatrixConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        content: dict[str, Any] = {**post.payload["content"], "msgtype": config.msgtype}
        if post.image_url is not None:
            content = await self._image_content(content, post.image_url, config, session)
        txn = idempotency_key or f"hub-{uuid.uuid4().hex}"
        room = _txn(config.room_id)
        answer = await self._call(
            "PUT",
            f"{_CLIENT}/rooms/{room}/send/m.room.message/{_txn(txn)}",
            config,
            session,
            json_body=content,
            retry_safe=idempotency_key is not None,
        )
        event_id = answer.get("event_id")
        if not isinstance(event_id, str) or not event_id.startswith("$"):
            raise PermanentError("unexpected_response", "the homeserver sent no event_id")
        return PublishResult(
            kind=self.kind,
            remote_id=f"{config.room_id}{_SEPARATOR}{event_id}",
            remote_url=f"https://matrix.to/#/{room}/{_txn(event_id)}",
            raw={"room_id": config.room_id, "event_id": event_id, "msgtype": content["msgtype"]},
        )

    async def delete(
        self, remote_id: str, config: MatrixConfig, session: aiohttp.ClientSession
    ) -> None:
        room_id, _, event_id = remote_id.partition(_SEPARATOR)
        if not room_id.startswith("!") or not event_id.startswith("$"):
            raise PermanentError("bad_remote_id", "expected '<room_id>|<event_id>'")
        # A transaction id derived from the event: redacting twice is one redaction.
        txn = "redact-" + hashlib.sha256(remote_id.encode()).hexdigest()[:32]
        path = f"{_CLIENT}/rooms/{_txn(room_id)}/redact/{_txn(event_id)}/{txn}"
        try:
            await self._call(
                "PUT",
                path,
                config,
                session,
                json_body={"reason": "retracted by the shop"},
                retry_safe=True,
            )
        except PermanentError as exc:
            if exc.code != "M_NOT_FOUND" and exc.code != "http_404":
                raise

    async def check_credentials(self, config: MatrixConfig, session: aiohttp.ClientSession) -> None:
        await self._call("GET", f"{_CLIENT}/account/whoami", config, session)
        joined = await self._call("GET", f"{_CLIENT}/joined_rooms", config, session)
        rooms = joined.get("joined_rooms")
        if not isinstance(rooms, list) or config.room_id not in rooms:
            raise Misconfigured("not_in_room", "the account has not joined the room")
