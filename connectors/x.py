"""X API v2: ``POST /2/tweets`` (with the card's image uploaded by ``POST /2/media/upload``),
``DELETE /2/tweets/:id``, ``GET /2/users/me``.

Contract (shared/channels/global.md §6): posting needs user context. Two ways are accepted:
OAuth 1.0a user context (consumer key/secret + access token/secret, HMAC-SHA1 signed by
`oauthlib`; what tweepy and apprise use, and the one to prefer for a hub posting unattended,
since its tokens do not expire), or an OAuth 2.0 user access token (``tweet.write``; it expires
after two hours and refreshing it is the caller's job). Text is weighted as twitter-text v3
counts it (`TextUnit.WEIGHTED`, every URL 23), at most 280. Errors are problem-details JSON;
``403 … duplicate content`` is `PermanentError("duplicate_content")`. X has no idempotency
key: a timeout after sending is `OutcomeUnknown(retry_safe=False)`.

Limits. A 429 is `RateLimited` until ``x-rate-limit-reset`` (unix seconds, the 15-minute
window). When one of the 24-hour post counters it reports, the user's
(``x-user-limit-24hour-remaining``) or the app's (``x-app-limit-24hour-remaining``), is 0,
it is `QuotaExhausted` (``daily_limit``) until the later of the spent counters'
``-reset``: nothing gets through before, whatever the 15-minute window says. A 402 (the
app's pay-per-use credits are depleted) is `QuotaExhausted` too: the account is fine, but
no post goes out until someone tops the credits up, so its posts wait a day
(`_CREDITS_WAIT_S`) and try again. Waits are counted on X's clock (its ``Date`` header).

The app's counter and its credits are shared by every account posting through the same X app:
when either is spent the error's `scope` is `RateScope.APP`, and `XConnector.app_key` names
the app (a hash of the consumer key, never the key) so the caller can hold all its accounts.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1
from oauthlib.oauth1 import Client as OAuth1Client
from pydantic import SecretStr, model_validator

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors._media import fetch_image_or_none, multipart
from connectors._template import card_fields, compose, dialect_for
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError, QuotaExhausted
from connectors.limits import ChannelLimits, Markup, Rate, RateScope, TextUnit
from connectors.mastodon import url_safe_length
from connectors.registry import register

__all__ = ["ERRORS", "XConfig", "XConnector", "tweet_length"]

# Codes this module derives from the problem text (see `_code`) or from the 24-hour counters
# of a 429 (see `_daily_limit`) first, then HTTP statuses.
ERRORS: ErrorTable = {
    "duplicate_content": ErrorKind.PERMANENT,
    "text_too_long": ErrorKind.PERMANENT,
    "daily_limit": ErrorKind.QUOTA_EXHAUSTED,  # a 24-hour post counter is spent: until reset
    400: ErrorKind.PERMANENT,
    401: ErrorKind.AUTH_EXPIRED,
    402: ErrorKind.QUOTA_EXHAUSTED,  # pay-per-use credits depleted: hold posts a day
    403: ErrorKind.MISCONFIGURED,  # no write permission, suspended, app-only token
    404: ErrorKind.PERMANENT,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
}
_PHRASES = {
    "duplicate content": "duplicate_content",
    "text is too long": "text_too_long",
}
_URL_LENGTH = 23
_MAX_WEIGHTED = 280
_MAX_IMAGE_BYTES = 5 << 20  # 5 MB image cap (unconfirmed for v2; the v1.1 figure)
_OAUTH1_FIELDS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
_DAILY_COUNTERS = {"x-user-limit-24hour": "user", "x-app-limit-24hour": "app"}
_CREDITS_WAIT_S = 24 * 3600.0


def tweet_length(text: str) -> int:
    """A post's weighted length as X counts it (never less than X's own count)."""
    return url_safe_length(text, TextUnit.WEIGHTED, _URL_LENGTH)


class XConfig(ConnectorConfig):
    """Credentials of the posting account: the four OAuth 1.0a values, or `oauth2_token`."""

    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    oauth2_token: SecretStr | None = None

    @model_validator(mode="after")
    def _one_scheme(self) -> XConfig:
        given = [getattr(self, name) is not None for name in _OAUTH1_FIELDS]
        if self.oauth2_token is not None:
            if any(given):
                raise ValueError("give either oauth2_token or the OAuth 1.0a values, not both")
        elif not all(given):
            raise ValueError(
                "give oauth2_token, or all of consumer_key, consumer_secret, access_token "
                "and access_token_secret"
            )
        return self


Method = Literal["GET", "POST", "DELETE"]


def _authorization(config: XConfig, method: Method, url: str) -> str:
    if config.oauth2_token is not None:
        return f"Bearer {config.oauth2_token.get_secret_value()}"
    values = [getattr(config, name) for name in _OAUTH1_FIELDS]
    key, secret, token, token_secret = (v.get_secret_value() for v in values)
    client = OAuth1Client(
        key,
        client_secret=secret,
        resource_owner_key=token,
        resource_owner_secret=token_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
    )
    # JSON and multipart bodies are not part of the signature base string (RFC 5849 §3.4.1).
    _, headers, _ = client.sign(url, http_method=method)
    return str(headers["Authorization"])


def _code(body: Any) -> tuple[str | None, str]:
    if not isinstance(body, dict):
        return None, ""
    texts = [str(body.get(k, "")) for k in ("detail", "title")]
    errors = body.get("errors")
    if isinstance(errors, list):
        texts += [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
    message = next((t for t in texts if t), "")
    lowered = " ".join(texts).lower()
    code = next((code for phrase, code in _PHRASES.items() if phrase in lowered), None)
    return code, message


def _unix(value: str | None) -> float | None:
    return float(value) if value and value.isdigit() else None


def _channel_now(reply: Reply) -> float:
    """X's clock (its ``Date`` header), which its resets are counted on; ours without one."""
    try:
        sent = parsedate_to_datetime(reply.header("Date") or "")
    except (TypeError, ValueError, IndexError):
        return time.time()
    return (sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)).timestamp()


def _daily_limit(reply: Reply) -> tuple[list[str], float | None] | None:
    """The spent 24-hour counters ("user", "app") and when the last of them resets (unix
    seconds, None when not said); None when no counter is spent."""
    spent: list[str] = []
    resets: list[float] = []
    for prefix, who in _DAILY_COUNTERS.items():
        if reply.header(f"{prefix}-remaining") != "0":
            continue
        spent.append(who)
        if (reset := _unix(reply.header(f"{prefix}-reset"))) is not None:
            resets.append(reset)
    if not spent:
        return None
    return spent, max(resets, default=None)


def _retry_after(reply: Reply) -> float | None:
    """Seconds until the window resets: the 24-hour one when it is spent, else the 15-minute."""
    now = _channel_now(reply)
    daily = _daily_limit(reply)
    if daily is not None:
        reset = daily[1]
        return None if reset is None else max(0.0, reset - now)
    if (reset := _unix(reply.header("x-rate-limit-reset"))) is not None:
        return max(0.0, reset - now)
    return parse_retry_after(reply.header("Retry-After"))


def _error(reply: Reply) -> Exception:
    code, message = _code(reply.json())
    wait_s = _retry_after(reply) if reply.status == 429 else None
    daily = _daily_limit(reply) if reply.status == 429 else None
    if daily is not None:
        spent, reset = daily
        code = "daily_limit"
        message = f"X 24-hour post limit of the {' and the '.join(spent)} reached"
        if reset is not None:  # else a day, the quota default
            wait_s = max(wait_s or 0.0, 1.0)  # a reset already past: try again at once
            message += f"; resumes {datetime.fromtimestamp(reset, UTC):%Y-%m-%d %H:%M:%S} UTC"
    elif reply.status == 402:
        wait_s = _CREDITS_WAIT_S
        message = (
            "X API credits depleted (402 Payment Required); posting resumes once the app's "
            f"credits are topped up, tried again after {_CREDITS_WAIT_S / 3600:g} h"
        )
    error = classify(ERRORS, status=reply.status, code=code, message=message, retry_after_s=wait_s)
    app_wide = reply.status == 402 or (daily is not None and "app" in daily[0])
    if app_wide and isinstance(error, QuotaExhausted):  # every account of the app waits
        return QuotaExhausted(error.retry_after_s, error.message, scope=RateScope.APP)
    return error


@register
class XConnector(Connector[XConfig]):
    kind = "x"
    limits = ChannelLimits(
        max_text=_MAX_WEIGHTED,
        text_unit=TextUnit.WEIGHTED,
        url_length=_URL_LENGTH,
        markup=Markup.PLAIN,
        max_media=4,
        media_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        rate=Rate(100, 86_400.0, RateScope.ACCOUNT),  # plan-dependent; read the headers
        has_idempotency_key=False,
        can_delete=True,
        base_url="https://api.x.com",
    )
    config_model = XConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price $tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        text = compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=dialect_for(Markup.PLAIN),
            budget=self.limits.max_text,
            count=lambda composed: tweet_length(composed.plain),
        )
        return RenderedPost(
            kind=self.kind,
            payload={"text": text.plain},
            text=text.plain,
            text_limit=self.limits.max_text,
            link=link,
            image_url=card.image_url,
        )

    def app_key(self, config: XConfig) -> str | None:
        """The X app `config` posts through, for the limits its accounts share (the app's
        24-hour counter, its credits): a hash of the consumer key, which identifies the app
        and is never put in a key itself. None for an OAuth 2.0 user token, which names none."""
        if config.consumer_key is None:
            return None
        key = config.consumer_key.get_secret_value().encode()
        return f"x:{hashlib.sha256(b'x-app:' + key).hexdigest()[:32]}"

    async def _call(
        self,
        method: Method,
        path: str,
        config: XConfig,
        session: aiohttp.ClientSession,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> Reply:
        url = f"{self.base_url(config)}{path}"
        headers = {"Authorization": _authorization(config, method, url)}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return await send(
            session,
            method,
            url,
            json_body=json_body,
            data=data,
            headers=headers,
            client_timeout=self.client_timeout(config),
        )

    async def _upload(self, image_url: str, config: XConfig, session: aiohttp.ClientSession) -> str:
        image = await fetch_image_or_none(
            session,
            image_url,
            policy=self.media,
            mime_types=self.limits.media_types,
            max_bytes=_MAX_IMAGE_BYTES,
            client_timeout=self.client_timeout(config),
        )
        if image is None:
            return ""
        body, content_type = multipart({"media_category": "tweet_image"}, {"media": image})
        reply = await self._call(
            "POST", "/2/media/upload", config, session, data=body, content_type=content_type
        )
        answer = reply.json()
        data = answer.get("data") if isinstance(answer, dict) else None
        if reply.status not in (200, 201) or not isinstance(data, dict) or "id" not in data:
            raise _error(reply)
        return str(data["id"])

    async def publish(
        self,
        post: RenderedPost,
        config: XConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,  # X has none; kept for the protocol
    ) -> PublishResult:
        body: dict[str, Any] = {"text": str(post.payload["text"])}
        if post.image_url is not None:
            media_id = await self._upload(post.image_url, config, session)
            if media_id:
                body["media"] = {"media_ids": [media_id]}
        reply = await self._call("POST", "/2/tweets", config, session, json_body=body)
        answer = reply.json()
        data = answer.get("data") if isinstance(answer, dict) else None
        if reply.status != 201 or not isinstance(data, dict) or "id" not in data:
            raise _error(reply)
        tweet_id = str(data["id"])
        return PublishResult(
            kind=self.kind,
            remote_id=tweet_id,
            remote_url=f"https://x.com/i/web/status/{tweet_id}",
            raw={"id": tweet_id, "media_ids": body.get("media", {}).get("media_ids", [])},
        )

    async def delete(self, remote_id: str, config: XConfig, session: aiohttp.ClientSession) -> None:
        if not remote_id.isdigit():
            raise PermanentError("bad_remote_id", "expected a numeric post id")
        reply = await self._call("DELETE", f"/2/tweets/{remote_id}", config, session)
        if reply.status == 404:
            return  # already gone
        if reply.status != 200:
            raise _error(reply)

    async def check_credentials(self, config: XConfig, session: aiohttp.ClientSession) -> None:
        reply = await self._call("GET", "/2/users/me", config, session)
        if reply.status != 200:
            raise _error(reply)
