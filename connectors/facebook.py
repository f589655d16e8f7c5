"""Facebook Pages through the Graph API: a feed post with the tracked link, or a photo post with
the link in its caption; retract by ``DELETE /{post-id}``; credentials checked with ``GET /me``.

Contract (shared/channels/global.md §7): a pinned, versioned base ``/{version}/``; a Page access
token as the ``access_token`` parameter (in the form body on POST, in the query otherwise);
``POST /{page-id}/feed`` (``message``, ``link``) → ``{"id": "{page}_{post}"}``,
``POST /{page-id}/photos`` (``url``, ``caption``) → ``{"id", "post_id"}``. Errors come as
``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``,
mostly under HTTP 400, throttling included; the numeric ``code`` decides, not the status.

Code 368, a temporary block of the Page, is `QuotaExhausted`: the Page needs no fixing, its
posts wait a day (`_BLOCKED_WAIT_S`, or longer when the usage headers say so).

Rate limits carry no Retry-After: the hint is ``estimated_time_to_regain_access`` (minutes) in
``X-Business-Use-Case-Usage``, which Page tokens fall under. Without it we ask for
`_DEFAULT_WAIT_S`, a full Platform window being one rolling hour. No idempotency key exists
(506 duplicate post is the only guard), so a timeout after sending is
`OutcomeUnknown(retry_safe=False)`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic import Field, SecretStr, field_validator

from connectors._http import ErrorTable, Reply, classify, parse_retry_after, send
from connectors.base import Connector, ConnectorConfig, secret_matching
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import (
    ConnectorError,
    ErrorKind,
    Misconfigured,
    PermanentError,
    QuotaExhausted,
)
from connectors.limits import ChannelLimits, Markup, Rate, RateScope, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "FacebookConfig", "FacebookConnector", "error_key"]

# Graph error codes (normalised by `error_key`) first, then HTTP statuses.
ERRORS: ErrorTable = {
    "unknown_error": ErrorKind.TRANSIENT,  # code 1
    "service_unavailable": ErrorKind.TRANSIENT,  # code 2
    "app_rate_limit": ErrorKind.RATE_LIMITED,  # code 4
    "user_rate_limit": ErrorKind.RATE_LIMITED,  # code 17
    "page_rate_limit": ErrorKind.RATE_LIMITED,  # code 32
    "app_limit_reached": ErrorKind.RATE_LIMITED,  # code 341
    "api_rate_limit": ErrorKind.RATE_LIMITED,  # code 613
    "business_rate_limit": ErrorKind.RATE_LIMITED,  # code 80001 (unconfirmed)
    "permission_denied": ErrorKind.MISCONFIGURED,  # codes 10 and 200-299
    "invalid_parameter": ErrorKind.PERMANENT,  # code 100
    "access_token_invalid": ErrorKind.AUTH_EXPIRED,  # codes 102 and 190 (any subcode)
    "temporarily_blocked": ErrorKind.QUOTA_EXHAUSTED,  # code 368: hold the Page a day
    "duplicate_content": ErrorKind.PERMANENT,  # code 506
    "link_scrape_failed": ErrorKind.PERMANENT,  # code 1609005
    400: ErrorKind.PERMANENT,
    403: ErrorKind.MISCONFIGURED,
    500: ErrorKind.TRANSIENT,
    503: ErrorKind.TRANSIENT,
}
_CODES: dict[int, str] = {
    1: "unknown_error",
    2: "service_unavailable",
    4: "app_rate_limit",
    17: "user_rate_limit",
    32: "page_rate_limit",
    341: "app_limit_reached",
    613: "api_rate_limit",
    80001: "business_rate_limit",
    10: "permission_denied",
    100: "invalid_parameter",
    102: "access_token_invalid",
    190: "access_token_invalid",
    368: "temporarily_blocked",
    506: "duplicate_content",
    1609005: "link_scrape_failed",
}
_DEFAULT_WAIT_S = 300.0
# A 368 block ("temporarily blocked for policies violations") says neither how long it lasts
# nor when it ends. The Page is not broken: we hold its posts and try again after a day.
_BLOCKED_WAIT_S = 86_400.0
_GONE_SUBCODE = 33  # "Object with ID … does not exist": on delete, already gone
_TOKEN = re.compile(r"^[A-Za-z0-9_.|-]{20,1024}$")
_MAX_MESSAGE = 63_206  # unconfirmed, widely quoted


def error_key(code: int) -> str:
    """The table key of a Graph error ``code`` (``"graph_<n>"`` for codes not in the table)."""
    if 200 <= code <= 299:
        return "permission_denied"
    return _CODES.get(code, f"graph_{code}")


class FacebookConfig(ConnectorConfig):
    """A Page id, a Page access token with ``pages_manage_posts``, and the pinned version."""

    page_id: str = Field(pattern=r"^\d{5,20}$")
    access_token: SecretStr
    api_version: str = Field(default="v23.0", pattern=r"^v\d{1,2}\.\d$")

    @field_validator("access_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        return secret_matching(value, _TOKEN, "a Page access token")


def _wait_hint(reply: Reply) -> float:
    """Seconds until access returns, from the usage headers, else the default."""
    waits: list[float] = []
    usage = reply.header("X-Business-Use-Case-Usage")
    if usage:
        try:
            parsed = json.loads(usage)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            for entries in parsed.values():
                for entry in entries if isinstance(entries, list) else []:
                    minutes = (
                        entry.get("estimated_time_to_regain_access")
                        if isinstance(entry, dict)
                        else None
                    )
                    if isinstance(minutes, int | float):
                        waits.append(float(minutes) * 60.0)
    header = parse_retry_after(reply.header("Retry-After"))
    if header is not None:
        waits.append(header)
    best = max(waits, default=0.0)
    return best if best > 0 else _DEFAULT_WAIT_S


def _error(reply: Reply) -> ConnectorError:
    body = reply.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return classify(ERRORS, status=reply.status)
    code = int(error["code"])
    key = error_key(code)
    message = str(error.get("message", ""))[:300]
    if key not in ERRORS and error.get("is_transient") is True:
        key = "unknown_error"
    if ERRORS.get(key) is ErrorKind.QUOTA_EXHAUSTED:
        wait_s = max(_BLOCKED_WAIT_S, _wait_hint(reply))
        return QuotaExhausted(
            wait_s,
            f"Facebook temporarily blocked posting (code {code}): {message[:200]}; "
            f"retrying after {wait_s / 3600:g} h",
        )
    return classify(
        ERRORS,
        status=reply.status,
        code=key,
        message=f"{message} (code {code}, subcode {error.get('error_subcode')})",
        retry_after_s=_wait_hint(reply) if ERRORS.get(key) is ErrorKind.RATE_LIMITED else None,
    )


def _post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


@register
class FacebookConnector(Connector[FacebookConfig]):
    kind = "facebook"
    limits = ChannelLimits(
        max_text=_MAX_MESSAGE,
        text_unit=TextUnit.CHARS,
        markup=Markup.PLAIN,
        max_media=1,
        media_types=("image/jpeg", "image/png", "image/gif"),
        rate=Rate(60, 3600.0, RateScope.ACCOUNT),  # advised pacing; BUC quotas are unpublished
        has_idempotency_key=False,
        can_delete=True,
        base_url="https://graph.facebook.com",
    )
    config_model = FacebookConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        text = self.compose_text(card, link, template, budget=self.limits.max_text)
        if card.image_url is not None:
            # A photo post shows no link preview: the link lives in the caption.
            payload: dict[str, Any] = {
                "edge": "photos",
                "body": {"url": card.image_url, "caption": text.plain},
            }
        else:
            payload = {"edge": "feed", "body": {"message": text.plain, "link": link}}
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=text.plain,
            text_limit=self.limits.max_text,
            link=link,
            image_url=card.image_url,
        )

    def _url(self, config: FacebookConfig, path: str) -> str:
        return f"{self.base_url(config)}/{config.api_version}/{path}"

    async def _call(
        self,
        method: str,
        path: str,
        config: FacebookConfig,
        session: aiohttp.ClientSession,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        fields = {**(params or {}), "access_token": config.access_token.get_secret_value()}
        url = self._url(config, path)
        if method == "POST":
            reply = await send(
                session,
                method,
                url,
                data=urlencode(fields).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                client_timeout=self.client_timeout(config),
            )
        else:
            reply = await send(
                session,
                method,
                f"{url}?{urlencode(fields)}",
                client_timeout=self.client_timeout(config),
            )
        answer = reply.json()
        if 200 <= reply.status < 300 and isinstance(answer, dict) and "error" not in answer:
            return answer
        raise _error(reply)

    async def publish(
        self,
        post: RenderedPost,
        config: FacebookConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        edge = str(post.payload["edge"])
        body = {key: str(value) for key, value in post.payload["body"].items()}
        answer = await self._call("POST", f"{config.page_id}/{edge}", config, session, body)
        post_id = answer.get("post_id") or answer.get("id")
        if not isinstance(post_id, str) or not post_id:
            raise PermanentError("unexpected_response", "Graph answered without a post id")
        raw = {"id": str(answer.get("id")), "post_id": post_id, "edge": edge}
        return PublishResult(self.kind, post_id, _post_url(post_id), raw)

    async def delete(
        self, remote_id: str, config: FacebookConfig, session: aiohttp.ClientSession
    ) -> None:
        if not re.fullmatch(r"\d+(_\d+)?", remote_id):
            raise PermanentError("bad_remote_id", "expected a Graph post id such as '123_456'")
        try:
            await self._call("DELETE", remote_id, config, session)
        except PermanentError as exc:
            if exc.code != "invalid_parameter" or f"subcode {_GONE_SUBCODE})" not in exc.message:
                raise

    async def check_credentials(
        self, config: FacebookConfig, session: aiohttp.ClientSession
    ) -> None:
        me = await self._call("GET", "me", config, session, {"fields": "id,name"})
        if str(me.get("id")) != config.page_id:
            raise Misconfigured(
                "token_not_for_page", "the access token is not a Page token of this Page"
            )
