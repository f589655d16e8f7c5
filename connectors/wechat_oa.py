"""WeChat Official Account (微信公众号): the product card as a published article (kind
``wechat_oa``).

Contract (shared/channels/china.md §2), base ``/cgi-bin/``, every call but the token call
takes ``?access_token=``; business errors are HTTP 200 ``{"errcode", "errmsg"}``:

1. access token from ``POST stable_token`` (repeated calls return the same token while it is
   valid), shared by all workers through a `TokenStore` (single flight), cached until
   ``expires_in`` minus `EARLY_REFRESH_S`, and refreshed once when a call answers 40001,
   40014 or 42001 (then that call is repeated once);
2. the product picture uploaded as permanent material (``material/add_material?type=image``,
   the draft cover) and, when small enough, through ``media/uploadimg`` for the article body
   (external images are filtered out of articles);
3. ``draft/add`` with one article: title ≤ 32 characters, digest ≤ 128, HTML content
   < 20 000 characters, ``content_source_url`` ("阅读原文") = the tracked link;
4. ``freepublish/submit`` → ``publish_id``; `poll` reads ``freepublish/get`` once and says
   published / still publishing / failed — the worker owns the waiting;
5. retract with ``freepublish/delete``.

No idempotency key: a timeout after any step is `OutcomeUnknown`; after an ambiguous submit
the worker must look before resubmitting. Limits count **characters**. JSON is sent without
``\\uXXXX`` escapes (WeChat answers 40033 to those).
"""

from __future__ import annotations

import copy
import hashlib
import io
from typing import Any, cast

import aiohttp
from pydantic import Field, SecretStr

from connectors._cn import body_code, body_error, dumps, seconds_to_beijing_midnight
from connectors._http import ErrorTable, Reply, send
from connectors._media import Image, fetch_image, multipart
from connectors._template import Composed, card_fields, compose, dialect_for
from connectors._text import escape_html, fit
from connectors._tokens import FreshToken, MemoryTokenStore, TokenStore
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError, TransientError
from connectors.limits import ChannelLimits, Markup, Rate, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "TOKEN_REJECTED", "WechatOAConfig", "WechatOAConnector", "article_html"]

# errcode (as a string) → class; then HTTP statuses.
ERRORS: ErrorTable = {
    "-1": ErrorKind.TRANSIENT,  # system busy
    "40001": ErrorKind.AUTH_EXPIRED,  # wrong secret or token invalid (after one refresh)
    "40014": ErrorKind.AUTH_EXPIRED,  # invalid access_token
    "42001": ErrorKind.AUTH_EXPIRED,  # access_token expired
    "40013": ErrorKind.MISCONFIGURED,  # invalid appid
    "40125": ErrorKind.MISCONFIGURED,  # invalid appsecret
    "40243": ErrorKind.MISCONFIGURED,  # AppSecret frozen
    "41002": ErrorKind.MISCONFIGURED,  # appid missing
    "41004": ErrorKind.MISCONFIGURED,  # secret missing
    "40164": ErrorKind.MISCONFIGURED,  # caller IP not in the whitelist
    "50004": ErrorKind.MISCONFIGURED,  # token API forbidden
    "50007": ErrorKind.MISCONFIGURED,  # account frozen
    "89503": ErrorKind.MISCONFIGURED,  # IP call awaiting the admin's confirmation
    "89506": ErrorKind.MISCONFIGURED,  # IP call refused by the admin
    "89507": ErrorKind.MISCONFIGURED,  # IP call refused by the admin (1 hour)
    "48001": ErrorKind.MISCONFIGURED,  # api unauthorized (account type / not verified)
    "48004": ErrorKind.MISCONFIGURED,  # api banned
    "50002": ErrorKind.MISCONFIGURED,  # user limited
    "53500": ErrorKind.MISCONFIGURED,  # publishing banned
    "53504": ErrorKind.MISCONFIGURED,  # must use the draft on the web console
    "53505": ErrorKind.MISCONFIGURED,  # save manually on the web console first
    "45009": ErrorKind.RATE_LIMITED,  # daily quota reached
    "45011": ErrorKind.RATE_LIMITED,  # per-minute quota
    "53501": ErrorKind.RATE_LIMITED,  # publishing too frequently
    "45028": ErrorKind.RATE_LIMITED,  # no publishes left this period (unconfirmed)
    "40002": ErrorKind.PERMANENT,  # invalid grant_type
    "43002": ErrorKind.PERMANENT,  # POST required
    "40005": ErrorKind.PERMANENT,  # invalid file type
    "40009": ErrorKind.PERMANENT,  # image too large
    "40007": ErrorKind.PERMANENT,  # invalid media_id
    "40033": ErrorKind.PERMANENT,  # \\uxxxx characters in the request
    "45003": ErrorKind.PERMANENT,  # title too long
    "45110": ErrorKind.PERMANENT,  # author too long
    "45166": ErrorKind.PERMANENT,  # unsupported content
    "87014": ErrorKind.PERMANENT,  # risky content
    "53404": ErrorKind.PERMANENT,  # product-insertion rules
    "53405": ErrorKind.PERMANENT,
    "53406": ErrorKind.PERMANENT,
    "53502": ErrorKind.PERMANENT,  # invalid publish_id
    "53503": ErrorKind.PERMANENT,  # draft failed the publish check
    "53600": ErrorKind.PERMANENT,  # invalid article_id (delete: already gone)
    500: ErrorKind.TRANSIENT,
    502: ErrorKind.TRANSIENT,
}
TOKEN_REJECTED = frozenset({40001, 40014, 42001})
EARLY_REFRESH_S = 300.0  # stable_token renews 5 minutes before expiry
PUBLISH_FAILURES = {
    2: "originality check failed",
    3: "publishing failed",
    4: "rejected by platform review",
    5: "deleted by the account after publishing",
    6: "banned by the platform after publishing",
}
MAX_TITLE_CHARS, MAX_DIGEST_CHARS, MAX_AUTHOR_CHARS = 32, 128, 16
MAX_CONTENT_CHARS = 19_999  # "< 20 000 characters"
_IMAGE_RESERVE_CHARS = 400  # room for the uploaded picture's <img> paragraph
CONTENT_BUDGET = MAX_CONTENT_CHARS - _IMAGE_RESERVE_CHARS
MAX_SOURCE_URL_BYTES = 1024
MATERIAL_TYPES = ("image/jpeg", "image/png", "image/gif", "image/bmp")
MAX_MATERIAL_BYTES = 10 * 1024 * 1024
MAX_INLINE_BYTES = 1024 * 1024 - 1
_GONE = {"53600"}


def _fit_chars(text: str, budget: int) -> str:
    return fit(text, budget, len) or text[: budget - 1] + "…"


def article_html(text: str) -> str:
    """Article content: one ``<p>`` per line, text escaped; the tracked link stays plain text
    (hyperlinks in content depend on account permissions, 45166)."""
    return "".join(
        f"<p>{escape_html(line)}</p>" if line.strip() else "<p><br/></p>"
        for line in text.split("\n")
    )


def _ttl_s(expires_in: int) -> float:
    if expires_in > 2 * EARLY_REFRESH_S:
        return float(expires_in) - EARLY_REFRESH_S
    return max(1.0, expires_in / 2)


class WechatOAConfig(ConnectorConfig):
    """The account's AppID and AppSecret; a permanent material id for the cover when a card
    has no picture; the article author and comment settings."""

    appid: str = Field(pattern=r"^wx[0-9a-f]{16}$")
    secret: SecretStr = Field(min_length=16, max_length=64)
    default_thumb_media_id: str | None = Field(default=None, min_length=1, max_length=128)
    author: str | None = Field(default=None, max_length=MAX_AUTHOR_CHARS)
    open_comment: bool = False


@register
class WechatOAConnector(Connector[WechatOAConfig]):
    kind = "wechat_oa"
    limits = ChannelLimits(
        max_text=CONTENT_BUDGET,
        text_unit=TextUnit.CHARS,
        markup=Markup.PLAIN,
        max_media=1,
        media_types=MATERIAL_TYPES,
        rate=Rate(60, 60.0),  # advisory; per-API daily quotas are the real cap
        has_idempotency_key=False,
        can_delete=True,
        base_url="https://api.weixin.qq.com",
    )
    config_model = WechatOAConfig
    errors = ERRORS
    default_template = "$description\n\n$price\n$tags\n\n$link"

    def __init__(self, tokens: TokenStore | None = None) -> None:
        self._tokens: TokenStore = tokens if tokens is not None else MemoryTokenStore()

    def with_token_store(self, tokens: TokenStore) -> WechatOAConnector:
        """This connector sharing its access tokens through `tokens` (Redis in production)."""
        bound = copy.copy(self)  # keeps everything else, such as `media`
        bound._tokens = tokens
        return bound

    # --- rendering ----------------------------------------------------------------------

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        if len(link.encode()) > MAX_SOURCE_URL_BYTES:
            raise PermanentError("link_too_long", "content_source_url is limited to 1 KB")
        fields = card_fields(card, link)

        def size(composed: Composed) -> int:
            return len(article_html(composed.plain))

        text = compose(
            template if template is not None else self.default_template,
            fields,
            dialect=dialect_for(Markup.PLAIN),
            budget=CONTENT_BUDGET,
            count=size,
        )
        summary = " ".join(p for p in (fields["price"], fields["description"]) if p)
        article = {
            "article_type": "news",
            "title": _fit_chars(fields["title"], MAX_TITLE_CHARS),
            "digest": fit(" ".join(summary.split()), MAX_DIGEST_CHARS, len),
            "content": article_html(text.plain),
            "content_source_url": link,
        }
        return RenderedPost(
            kind=self.kind,
            payload={"article": article},
            text=text.plain,
            text_limit=CONTENT_BUDGET,
            link=link,
            image_url=card.image_url,
        )

    # --- token and calls ----------------------------------------------------------------

    def _token_key(self, config: WechatOAConfig) -> str:
        # A token belongs to (endpoint, appid, secret): a replaced secret gets its own.
        seed = f"{self.base_url(config)}|{config.appid}|{config.secret.get_secret_value()}"
        return f"wechat_oa:token:{config.appid}:{hashlib.sha256(seed.encode()).hexdigest()[:16]}"

    async def _fetch_token(
        self, config: WechatOAConfig, session: aiohttp.ClientSession, *, force: bool
    ) -> FreshToken:
        body = {
            "grant_type": "client_credential",
            "appid": config.appid,
            "secret": config.secret.get_secret_value(),
            "force_refresh": force,
        }
        reply = await self._send(session, config, "stable_token", body=body)
        answer = reply.json()
        token = answer.get("access_token") if isinstance(answer, dict) else None
        expires_in = answer.get("expires_in") if isinstance(answer, dict) else None
        if reply.status == 200 and isinstance(token, str) and token and isinstance(expires_in, int):
            return FreshToken(token, _ttl_s(expires_in))
        raise self._error(reply)

    async def _token(
        self, config: WechatOAConfig, session: aiohttp.ClientSession, stale: str | None = None
    ) -> str:
        async def refresh() -> FreshToken:
            fresh = await self._fetch_token(config, session, force=False)
            if stale is not None and fresh.value == stale:  # rejected yet still handed out
                fresh = await self._fetch_token(config, session, force=True)
            return fresh

        try:
            return await self._tokens.get_or_refresh(self._token_key(config), refresh, stale=stale)
        except TimeoutError:
            raise TransientError("another worker's token refresh did not finish") from None

    async def _send(
        self,
        session: aiohttp.ClientSession,
        config: WechatOAConfig,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        upload: Image | None = None,
        query: str = "",
    ) -> Reply:
        url = f"{self.base_url(config)}/cgi-bin/{path}"
        params = ([f"access_token={token}"] if token else []) + ([query] if query else [])
        if params:
            url += "?" + "&".join(params)
        if upload is not None:
            data, content_type = multipart({}, {"media": upload})
        elif body is not None:
            data, content_type = dumps(body), "application/json; charset=utf-8"
        else:
            return await send(session, "GET", url, client_timeout=self.client_timeout(config))
        return await send(
            session,
            "POST",
            url,
            # a stream: aiohttp warns about (and blocks on) raw bodies over 1 MB
            data=cast(bytes, io.BytesIO(data)) if upload is not None else data,
            headers={"Content-Type": content_type},
            client_timeout=self.client_timeout(config),
        )

    def _error(self, reply: Reply) -> Exception:
        answer = reply.json()
        code = body_code(answer, "errcode")
        message = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
        midnight = seconds_to_beijing_midnight()
        waits = {"45009": midnight, "45028": midnight, "45011": 60.0, "53501": 60.0}
        return body_error(ERRORS, reply, code=code, message=message, retry_after_s=waits)

    async def _call(
        self,
        path: str,
        config: WechatOAConfig,
        session: aiohttp.ClientSession,
        *,
        body: Any = None,
        upload: Image | None = None,
        query: str = "",
    ) -> dict[str, Any]:
        """One API call with the shared token; on a rejected token, refresh once and repeat."""
        token = await self._token(config, session)
        for attempt in (1, 2):
            reply = await self._send(
                session, config, path, token=token, body=body, upload=upload, query=query
            )
            answer = reply.json()
            code = body_code(answer, "errcode")
            if reply.status == 200 and isinstance(answer, dict) and code in (None, 0):
                return answer
            if attempt == 1 and code in TOKEN_REJECTED:
                token = await self._token(config, session, stale=token)
                continue
            raise self._error(reply)
        raise AssertionError("unreachable")

    # --- publishing ---------------------------------------------------------------------

    async def _pictures(
        self, post: RenderedPost, config: WechatOAConfig, session: aiohttp.ClientSession
    ) -> tuple[str, str | None]:
        """The cover's permanent media id and, when the picture fits, its in-article URL."""
        image: Image | None = None
        if post.image_url:
            try:
                image = await fetch_image(
                    session,
                    post.image_url,
                    policy=self.media,
                    mime_types=MATERIAL_TYPES,
                    max_bytes=MAX_MATERIAL_BYTES,
                    client_timeout=self.client_timeout(config),
                )
            except PermanentError:
                if config.default_thumb_media_id is None:
                    raise
        if image is None:
            if config.default_thumb_media_id is None:
                raise PermanentError("thumb_required", "no picture and no default cover")
            return config.default_thumb_media_id, None
        material = await self._call(
            "material/add_material", config, session, upload=image, query="type=image"
        )
        inline: str | None = None
        if len(image.data) <= MAX_INLINE_BYTES and image.mime in MATERIAL_TYPES[:2]:
            uploaded = await self._call("media/uploadimg", config, session, upload=image)
            inline = str(uploaded.get("url") or "") or None
        return str(material["media_id"]), inline

    async def publish(
        self,
        post: RenderedPost,
        config: WechatOAConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        """Upload, draft and submit; the result's ``remote_id`` is ``publish:<publish_id>``
        until `poll` reports the article (``article:<article_id>``)."""
        thumb, inline = await self._pictures(post, config, session)
        article = {**post.payload["article"], "thumb_media_id": thumb}
        if inline:
            article["content"] = f'<p><img src="{escape_html(inline)}"/></p>' + article["content"]
        if config.author:
            article["author"] = config.author
        article["need_open_comment"] = int(config.open_comment)
        article["only_fans_can_comment"] = 0
        draft = await self._call("draft/add", config, session, body={"articles": [article]})
        media_id = str(draft.get("media_id", ""))
        submitted = await self._call(
            "freepublish/submit", config, session, body={"media_id": media_id}
        )
        publish_id = str(submitted.get("publish_id", ""))
        if not media_id or not publish_id:
            raise PermanentError("unexpected_response", "WeChat answered without an id")
        return PublishResult(
            kind=self.kind,
            remote_id=f"publish:{publish_id}",
            raw={"publish_id": publish_id, "draft_media_id": media_id},
        )

    async def poll(
        self, remote_id: str, config: WechatOAConfig, session: aiohttp.ClientSession
    ) -> PublishResult | None:
        """One look at a submitted publish: ``None`` while WeChat is still publishing, the
        article (``article:<id>`` and its URL) once published; PermanentError
        ``publish_status_<n>`` when it failed or was removed. Never waits."""
        kind, _, publish_id = remote_id.partition(":")
        if kind != "publish" or not publish_id:
            raise PermanentError("bad_remote_id", "expected 'publish:<publish_id>'")
        answer = await self._call(
            "freepublish/get", config, session, body={"publish_id": publish_id}
        )
        status = answer.get("publish_status")
        if status == 1:
            return None
        if status != 0:
            reason = PUBLISH_FAILURES.get(status, "unknown publish status")  # type: ignore[arg-type]
            raise PermanentError(f"publish_status_{status}", reason)
        article_id = str(answer.get("article_id", ""))
        detail = answer.get("article_detail")
        items = detail.get("item") if isinstance(detail, dict) else None
        url = items[0].get("article_url") if isinstance(items, list) and items else None
        return PublishResult(
            kind=self.kind,
            remote_id=f"article:{article_id}",
            remote_url=url if isinstance(url, str) else None,
            raw={"publish_id": publish_id, "article_id": article_id},
        )

    async def delete(
        self, remote_id: str, config: WechatOAConfig, session: aiohttp.ClientSession
    ) -> None:
        kind, _, value = remote_id.partition(":")
        if kind == "publish":
            try:
                published = await self.poll(remote_id, config, session)
            except PermanentError as exc:
                if exc.code.startswith("publish_status_"):
                    return  # never published, or already removed
                raise
            if published is None:
                raise TransientError("publish_in_progress: retract once it is published")
            value = published.remote_id.partition(":")[2]
        elif kind != "article" or not value:
            raise PermanentError("bad_remote_id", "expected 'publish:…' or 'article:…'")
        try:
            await self._call(
                "freepublish/delete", config, session, body={"article_id": value, "index": 0}
            )
        except PermanentError as exc:
            if exc.code not in _GONE:
                raise

    async def check_credentials(
        self, config: WechatOAConfig, session: aiohttp.ClientSession
    ) -> None:
        await self._call("draft/count", config, session)
