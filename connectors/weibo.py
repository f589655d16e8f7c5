"""Weibo (微博): ``statuses/share`` — the only posting call open to ordinary apps — with the
tracked link under the app's safe domain and the product picture when there is one (kind
``weibo``).

Contract (shared/channels/china.md §3): ``POST /2/statuses/share.json``, form-encoded, or
multipart with ``pic`` (JPEG/GIF/PNG < 5 MB); ``access_token`` (OAuth user token), ``status``
(≤ 140 Chinese characters, no ``#topic#``, must contain a URL under the app's bound safe domain)
and ``rip`` (the real IP of the end user). Success is a status object (remote id ``idstr``);
errors are ``{"request", "error_code", "error"}`` (``error_code`` sometimes a string), the HTTP
status is unconfirmed: classify by the body. Identical or similar text is refused (20017/20019/
20111): after an ambiguous timeout that may mean the first attempt went through. 30 posts per
hour per user. No idempotency key; deletion is only on the commercial API, so no retract.

Length: Weibo counts a Chinese character as 1 and a Latin-1 character as ½. We count in
`TextUnit.WEIGHTED` (280 = 140 Chinese characters) and, to be safe, never less than "every
character above U+00FF is a full one". ``#`` is dropped from card text so a post never carries
a topic.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._cn import body_code, body_error, delivery_id
from connectors._http import ErrorTable, send
from connectors._media import fetch_image, multipart
from connectors._template import Composed, Dialect, card_fields, compose
from connectors._text import measure
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, Misconfigured, PermanentError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "WeiboConfig", "WeiboConnector", "weibo_units"]

# error_code (as a string) → class; then HTTP statuses.
ERRORS: ErrorTable = {
    "10001": ErrorKind.TRANSIENT,  # system error
    "10002": ErrorKind.TRANSIENT,  # service paused
    "10003": ErrorKind.TRANSIENT,  # remote service error
    "10009": ErrorKind.TRANSIENT,  # too many pending tasks
    "10022": ErrorKind.RATE_LIMITED,  # IP requests out of rate limit
    "10023": ErrorKind.RATE_LIMITED,  # user requests out of rate limit
    "10024": ErrorKind.RATE_LIMITED,  # user requests for this API out of rate limit
    "20016": ErrorKind.RATE_LIMITED,  # posting too frequently
    "21327": ErrorKind.AUTH_EXPIRED,  # expired_token
    "21314": ErrorKind.AUTH_EXPIRED,  # token used
    "21315": ErrorKind.AUTH_EXPIRED,  # token expired
    "21316": ErrorKind.AUTH_EXPIRED,  # token revoked
    "21317": ErrorKind.AUTH_EXPIRED,  # token rejected
    "21319": ErrorKind.AUTH_EXPIRED,  # authorization removed
    "21301": ErrorKind.AUTH_EXPIRED,  # auth failed
    "21332": ErrorKind.AUTH_EXPIRED,  # invalid_access_token (community reports)
    "10014": ErrorKind.MISCONFIGURED,  # app lacks permission
    "10005": ErrorKind.MISCONFIGURED,  # app lacks permission
    "10016": ErrorKind.PERMANENT,  # missing parameter
    "10017": ErrorKind.PERMANENT,  # invalid parameter
    "10008": ErrorKind.PERMANENT,  # parameter error
    "20012": ErrorKind.PERMANENT,  # text too long
    "20017": ErrorKind.PERMANENT,  # similar content repeated
    "20019": ErrorKind.PERMANENT,  # identical content repeated
    "20111": ErrorKind.PERMANENT,  # repeated content
    "20018": ErrorKind.PERMANENT,  # illegal URL (also the safe-domain refusal)
    "20020": ErrorKind.PERMANENT,  # advertising
    "20021": ErrorKind.PERMANENT,  # illegal content
    "20005": ErrorKind.PERMANENT,  # picture type not supported
    "20006": ErrorKind.PERMANENT,  # picture too large
    "20007": ErrorKind.PERMANENT,  # not multipart
    400: ErrorKind.PERMANENT,
    403: ErrorKind.PERMANENT,
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
RETRY_AFTER_S = {"10022": 3600.0, "10023": 3600.0, "10024": 3600.0, "20016": 3600.0}
DUPLICATE_CODES = frozenset({"20017", "20019", "20111"})
PENDING = 20032  # "published, the server is slow": a success without the status object
MAX_UNITS = 280  # 140 Chinese characters, in half units
MAX_PICTURE_BYTES = 5 * 1024 * 1024 - 1
PICTURE_TYPES = ("image/jpeg", "image/png", "image/gif")
_NO_TOPICS = Dialect(escape=lambda s: s.replace("#", ""), bold=lambda s: s, link=lambda u: u)


def weibo_units(text: str) -> int:
    """Half units as Weibo's own counter reckons: 1 up to U+00FF, 2 above."""
    return sum(1 if ord(ch) <= 0xFF else 2 for ch in text)


def _units(text: str) -> int:
    return max(weibo_units(text), measure(text, TextUnit.WEIGHTED))


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith(f".{domain}")


class WeiboConfig(ConnectorConfig):
    """The user's OAuth access token, the app's bound safe domain (the tracked link must be
    under it) and the public IP to send as ``rip``."""

    access_token: SecretStr = Field(min_length=8)
    safe_domain: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", max_length=253)
    rip: str

    @field_validator("rip")
    @classmethod
    def _ip(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


@register
class WeiboConnector(Connector[WeiboConfig]):
    kind = "weibo"
    limits = ChannelLimits(
        max_text=MAX_UNITS,
        text_unit=TextUnit.WEIGHTED,
        markup=Markup.PLAIN,
        max_media=1,
        media_types=PICTURE_TYPES,
        rate=Rate(30, 3600.0),  # posts per hour per user; 100 calls a day in total
        daily_cap=100,
        has_idempotency_key=False,
        can_delete=False,
        base_url="https://api.weibo.com",
    )
    config_model = WeiboConfig
    errors = ERRORS
    default_template = "$title $price\n$description\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        def count(composed: Composed) -> int:
            return _units(composed.marked)

        text = compose(
            template if template is not None else self.default_template,
            card_fields(card, link),
            dialect=_NO_TOPICS,
            budget=MAX_UNITS,
            count=count,
        )
        return RenderedPost(
            kind=self.kind,
            payload={"status": text.marked},
            text=text.marked,
            text_limit=MAX_UNITS,
            link=link,
            image_url=card.image_url,
        )

    def _fail(self, reply: Any) -> Exception:
        answer = reply.json()
        code = body_code(answer, "error_code")
        message = str(answer.get("error", "")) if isinstance(answer, dict) else ""
        return body_error(ERRORS, reply, code=code, message=message, retry_after_s=RETRY_AFTER_S)

    async def _body(
        self, post: RenderedPost, config: WeiboConfig, session: aiohttp.ClientSession
    ) -> tuple[bytes, str]:
        fields = {
            "access_token": config.access_token.get_secret_value(),
            "status": str(post.payload["status"]),
            "rip": config.rip,
        }
        if post.image_url:
            try:
                picture = await fetch_image(
                    session,
                    post.image_url,
                    policy=self.media,
                    mime_types=PICTURE_TYPES,
                    max_bytes=MAX_PICTURE_BYTES,
                    client_timeout=self.client_timeout(config),
                )
            except PermanentError:
                pass  # an unusable or refused picture: share the link alone
            else:
                return multipart(fields, {"pic": picture})
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"

    async def publish(
        self,
        post: RenderedPost,
        config: WeiboConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        host = urlsplit(post.link).hostname or ""
        if not _within(host, config.safe_domain):
            raise Misconfigured(
                "link_not_in_safe_domain",
                f"the tracked link's host {host} is not under the safe domain",
            )
        data, content_type = await self._body(post, config, session)
        reply = await send(
            session,
            "POST",
            f"{self.base_url(config)}/2/statuses/share.json",
            data=data,
            headers={"Content-Type": content_type},
            client_timeout=self.client_timeout(config),
        )
        answer = reply.json()
        if body_code(answer, "error_code") == PENDING:
            return PublishResult(kind=self.kind, remote_id=delivery_id(idempotency_key))
        if reply.status != 200 or not isinstance(answer, dict) or "error_code" in answer:
            raise self._fail(reply)
        idstr = answer.get("idstr") or (str(answer["id"]) if "id" in answer else None)
        if not isinstance(idstr, str) or not idstr:
            raise PermanentError("unexpected_response", "Weibo answered without a status id")
        user = answer.get("user") if isinstance(answer.get("user"), dict) else {}
        uid = user.get("idstr") if isinstance(user, dict) else None
        mid = answer.get("mid") or idstr
        url = f"https://weibo.com/{uid}/{mid}" if uid else None  # URL form unconfirmed
        return PublishResult(
            kind=self.kind, remote_id=idstr, remote_url=url, raw={"idstr": idstr, "mid": mid}
        )

    async def delete(
        self, remote_id: str, config: WeiboConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError("delete_unsupported", "Weibo deletes only through the commercial API")

    async def check_credentials(self, config: WeiboConfig, session: aiohttp.ClientSession) -> None:
        token = config.access_token.get_secret_value()
        reply = await send(
            session,
            "GET",
            f"{self.base_url(config)}/2/account/rate_limit_status.json?access_token={token}",
            client_timeout=self.client_timeout(config),
        )
        answer = reply.json()
        if reply.status != 200 or not isinstance(answer, dict) or "error_code" in answer:
            raise self._fail(reply)
