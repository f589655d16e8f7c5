"""Mastodon: `POST /api/v2/media` for the card's image, `POST /api/v1/statuses` with an
`Idempotency-Key`, `DELETE /api/v1/statuses/:id`, `verify_credentials`.

Contract (shared/channels/global.md §4): Bearer user token (scopes ``write:statuses``,
``write:media``); errors are ``{"error": "<message>"}``; 429 carries ``X-RateLimit-Reset`` (an
ISO 8601 time). A status is counted in grapheme clusters with every URL as 23 characters; the
limit is per instance (500 by default, ``max_characters`` in the config). The server keeps
idempotency keys for an hour, so a publish that timed out after sending is
`OutcomeUnknown(retry_safe=True)`: resend it with the same key.

The card's image is downloaded with `connectors._media` (public hosts only, unless the hub
allows private ones); when it cannot be had the status goes out without it. This module also
holds the URL-as-23 counting helper X shares: `url_safe_length`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, code_of, parse_retry_after, send
from connectors._media import Image, fetch_image_or_none, multipart
from connectors._template import card_fields, compose, dialect_for
from connectors._text import URL_RE, measure
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, Misconfigured, PermanentError, RateLimited
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = [
    "ERRORS",
    "MastodonConfig",
    "MastodonConnector",
    "status_length",
    "url_safe_length",
]

# Phrases of the ``error`` message (normalised by `code_of`) first, then HTTP statuses.
ERRORS: ErrorTable = {
    "the_access_token_is_invalid": ErrorKind.AUTH_EXPIRED,
    "the_access_token_was_revoked": ErrorKind.AUTH_EXPIRED,
    "outside_the_authorized_scopes": ErrorKind.MISCONFIGURED,
    "text_character_limit": ErrorKind.PERMANENT,
    "text_can_t_be_blank": ErrorKind.PERMANENT,
    "file_content_type_is_invalid": ErrorKind.PERMANENT,
    "cannot_attach_files_that_have_not_finished_processing": ErrorKind.RATE_LIMITED,
    "record_not_found": ErrorKind.PERMANENT,
    401: ErrorKind.AUTH_EXPIRED,
    403: ErrorKind.MISCONFIGURED,
    404: ErrorKind.PERMANENT,
    422: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
}
_PHRASES = sorted((k for k in ERRORS if isinstance(k, str)), key=len, reverse=True)
_PROCESSING = "cannot_attach_files_that_have_not_finished_processing"
_PROCESSING_WAIT_S = 5.0  # "Try again in a moment!": the documented advice is a few seconds
_MAX_ALT_CHARS = 1500
_MAX_IMAGE_BYTES = 8 << 20  # below mastodon.social's 10 MiB image_size_limit
_URL_LENGTH = 23
# Punctuation a server's URL parser leaves outside a URL when it ends one (twitter-text rule).
_TRAILING = ".,:;!?)]}"


# --- counting helpers shared with the other channels that count URLs as 23 ----------------


def url_safe_length(text: str, unit: TextUnit, url_length: int) -> int:
    """`measure` with each URL as `url_length`, plus the trailing punctuation of each URL
    counted again: a server that ends the URL before it counts those characters as text, so
    this never falls short of the server's count."""
    extra = sum(len(m) - len(m.rstrip(_TRAILING)) for m in URL_RE.findall(text))
    return measure(text, unit, url_length) + extra


def status_length(text: str) -> int:
    """A status's length as Mastodon counts it (grapheme clusters, each URL as 23)."""
    return url_safe_length(text, TextUnit.GRAPHEMES, _URL_LENGTH)


# --- the connector --------------------------------------------------------------------------


class MastodonConfig(ConnectorConfig):
    """An instance, a user access token and how statuses are posted there."""

    base_url: str = Field(pattern=r"^https?://[^/\s]+/?$")  # the instance, e.g. https://m.social
    access_token: SecretStr
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    max_characters: int = Field(default=500, ge=1, le=1_000_000)
    sensitive: bool = False

    @field_validator("access_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token or any(c.isspace() for c in token) or len(token) > 512:
            raise ValueError("expected an OAuth access token")
        return value


def _code(message: str) -> str:
    normalised = code_of(message)
    for phrase in _PHRASES:
        if phrase in normalised:
            return phrase
    return normalised[:80]


def _reset_in_s(value: str | None) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` time (ISO 8601), ``None`` if absent or bad."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error(reply: Reply, *, retry_safe: bool = False) -> Exception:
    body = reply.json()
    message = body.get("error") if isinstance(body, dict) else None
    message = message if isinstance(message, str) else ""
    code = _code(message) if message else None
    retry_after_s = _reset_in_s(reply.header("X-RateLimit-Reset"))
    if retry_after_s is None:
        retry_after_s = parse_retry_after(reply.header("Retry-After"))
    if code == _PROCESSING:
        retry_after_s = retry_after_s or _PROCESSING_WAIT_S
    return classify(
        ERRORS,
        status=reply.status,
        code=code,
        message=message,
        retry_after_s=retry_after_s,
        retry_safe=retry_safe,
    )


@register
class MastodonConnector(Connector[MastodonConfig]):
    kind = "mastodon"
    limits = ChannelLimits(
        max_text=500,  # the default; `render_within` renders for an instance's own limit
        text_unit=TextUnit.GRAPHEMES,
        url_length=_URL_LENGTH,
        markup=Markup.PLAIN,
        max_media=4,
        media_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        rate=Rate(300, 300.0),  # all /api/* per account; media 30 / 30 min
        has_idempotency_key=True,
        can_delete=True,
        base_url="https://mastodon.social",
    )
    config_model = MastodonConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        return self.render_within(card, link, self.limits.max_text, template)

    def render_for(
        self, config: MastodonConfig, card: Card, link: str, template: str | None = None
    ) -> RenderedPost:
        return self.render_within(card, link, config.max_characters, template)

    def render_within(
        self, card: Card, link: str, max_characters: int, template: str | None = None
    ) -> RenderedPost:
        """`render` for an instance whose limit is `max_characters` (its config's)."""
        text = compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect_for(Markup.PLAIN),
            budget=max_characters,
            count=lambda composed: status_length(composed.plain),
        )
        payload: dict[str, Any] = {"status": text.plain}
        if card.image_url is not None:
            payload["media_description"] = card.title.strip()[:_MAX_ALT_CHARS]
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=text.plain,
            text_limit=max_characters,
            link=link,
            image_url=card.image_url,
        )

    def _headers(self, config: MastodonConfig) -> dict[str, str]:
        return {"Authorization": f"Bearer {config.access_token.get_secret_value()}"}

    async def _upload(
        self, image: Image, alt: str, config: MastodonConfig, session: aiohttp.ClientSession
    ) -> str:
        body, content_type = multipart({"description": alt}, {"file": image})
        base = self.base_url(config)
        reply = await send(
            session,
            "POST",
            f"{base}/api/v2/media",
            data=body,
            headers={**self._headers(config), "Content-Type": content_type},
            client_timeout=self.client_timeout(config),
        )
        media = reply.json()
        if reply.status not in (200, 202) or not isinstance(media, dict) or "id" not in media:
            raise _error(reply)
        media_id = str(media["id"])
        if reply.status == 202:  # still processing: ask once, never wait here
            reply = await send(
                session,
                "GET",
                f"{base}/api/v1/media/{quote(media_id, safe='')}",
                headers=self._headers(config),
                client_timeout=self.client_timeout(config),
            )
            if reply.status == 206:
                raise RateLimited(_PROCESSING_WAIT_S, "media still processing")
            if reply.status != 200:
                raise _error(reply)
        return media_id

    async def publish(
        self,
        post: RenderedPost,
        config: MastodonConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        status = str(post.payload["status"])
        if status_length(status) > config.max_characters:
            raise PermanentError(
                "text_too_long", f"status longer than the instance's {config.max_characters}"
            )
        body: dict[str, Any] = {"status": status, "visibility": config.visibility}
        if config.language:
            body["language"] = config.language
        if config.sensitive:
            body["sensitive"] = True
        if post.image_url is not None:
            image = await fetch_image_or_none(
                session,
                post.image_url,
                policy=self.media,
                mime_types=self.limits.media_types,
                max_bytes=_MAX_IMAGE_BYTES,
                client_timeout=self.client_timeout(config),
            )
            if image is not None:
                alt = str(post.payload.get("media_description", ""))
                body["media_ids"] = [await self._upload(image, alt, config, session)]
        headers = self._headers(config)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        retry_safe = idempotency_key is not None
        reply = await send(
            session,
            "POST",
            f"{self.base_url(config)}/api/v1/statuses",
            json_body=body,
            headers=headers,
            client_timeout=self.client_timeout(config),
            retry_safe=retry_safe,
        )
        answer = reply.json()
        if reply.status != 200 or not isinstance(answer, dict) or "id" not in answer:
            raise _error(reply, retry_safe=retry_safe)
        url = answer.get("url") or answer.get("uri")
        return PublishResult(
            kind=self.kind,
            remote_id=str(answer["id"]),
            remote_url=url if isinstance(url, str) else None,
            raw={"id": str(answer["id"]), "media_ids": body.get("media_ids", [])},
        )

    async def delete(
        self, remote_id: str, config: MastodonConfig, session: aiohttp.ClientSession
    ) -> None:
        if not remote_id or not remote_id.replace("-", "").replace("_", "").isalnum():
            raise PermanentError("bad_remote_id", "expected a status id")
        reply = await send(
            session,
            "DELETE",
            f"{self.base_url(config)}/api/v1/statuses/{remote_id}",
            headers=self._headers(config),
            client_timeout=self.client_timeout(config),
            retry_safe=True,  # deleting twice is harmless
        )
        if reply.status == 404:
            return  # "Record not found": already gone
        if reply.status != 200:
            raise _error(reply, retry_safe=True)

    async def check_credentials(
        self, config: MastodonConfig, session: aiohttp.ClientSession
    ) -> None:
        base, timeout = self.base_url(config), self.client_timeout(config)
        reply = await send(
            session,
            "GET",
            f"{base}/api/v1/accounts/verify_credentials",
            headers=self._headers(config),
            client_timeout=timeout,
        )
        if reply.status != 200:
            raise _error(reply)
        reply = await send(session, "GET", f"{base}/api/v2/instance", client_timeout=timeout)
        instance = reply.json()
        if reply.status != 200 or not isinstance(instance, dict):
            return  # an instance without v2 metadata: nothing more to check
        statuses = instance.get("configuration", {}).get("statuses", {})
        limit = statuses.get("max_characters") if isinstance(statuses, dict) else None
        if isinstance(limit, int) and config.max_characters > limit:
            raise Misconfigured(
                "max_characters_above_instance_limit",
                f"the instance allows {limit} characters, the account is set to "
                f"{config.max_characters}",
            )
