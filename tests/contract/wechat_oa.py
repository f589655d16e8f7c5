"""WeChat Official Account contract server (shared/channels/china.md §2).

Token: ``POST /cgi-bin/stable_token`` (GET → 43002; bad appid 40013, bad secret 40125; the same
token while valid, a new one when forced, expired, or within 5 minutes of expiry) and the
classic ``GET /cgi-bin/token``. Every fetch is counted in `Account.token_fetches`;
`Account.expire_tokens()` makes the current token answer 42001. Other calls check
``access_token`` (missing 41001, unknown 40014, superseded 40001, expired 42001) and refuse
``\\uXXXX`` escapes in JSON bodies (40033). ``material/add_material`` (multipart ``media``,
image ≤ 10 MB, thumb ≤ 64 KB JPG), ``media/uploadimg`` (JPG/PNG < 1 MB → mmbiz URL),
``draft/add`` (title ≤ 32, author ≤ 16, digest ≤ 128 characters, content < 20 000 characters,
external ``<img>`` stripped, ``thumb_media_id`` a permanent id → 40007), ``freepublish/submit``
(the draft leaves the draft box), ``freepublish/get`` (publishing for
`Account.publishing_polls` polls, then `Account.final_status`), ``freepublish/delete``
(53600 when unknown), ``draft/count``. Per-API rate from ``state.rate`` → 45011. Errors are
HTTP 200 ``{"errcode", "errmsg"}`` with a ``rid``.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.contract._forms import Upload, read_form
from tests.contract._server import STATE, ContractState, json_reply, make_app, text_reply

APPID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
WRONG_SECRET = "ffffffffffffffffffffffffffffffff"
THUMB_MEDIA_ID = "PERMANENT_THUMB_0001"
IMAGE_PATH = "/assets/mug.jpg"
BIG_IMAGE_PATH = "/assets/poster.png"
MISSING_IMAGE_PATH = "/assets/gone.jpg"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x00" * 2000 + b"\xff\xd9"
BIG_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024 + 10)
LIFETIME_S = 7200
_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")
_IMG = re.compile(r"<img\b[^>]*?src=\"([^\"]*)\"[^>]*>", re.IGNORECASE)


@dataclass
class Account:
    """The official account behind the server; tests read and steer it."""

    token_fetches: int = 0
    token_delay_s: float = 0.0
    lifetime_s: int = LIFETIME_S
    current: str | None = None
    expires_at: float = 0.0
    issued: set[str] = field(default_factory=set)
    material: dict[str, str] = field(default_factory=lambda: {THUMB_MEDIA_ID: "image"})
    inline_urls: set[str] = field(default_factory=set)
    drafts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    publishes: dict[str, dict[str, Any]] = field(default_factory=dict)
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    publishing_polls: int = 0
    final_status: int = 0
    calls: list[str] = field(default_factory=list)
    _serial: int = 0

    def serial(self) -> int:
        self._serial += 1
        return self._serial

    def expire_tokens(self) -> None:
        self.expires_at = 0.0

    def issue(self, *, force: bool) -> tuple[str, int]:
        now = time.time()
        if not force and self.current is not None and self.expires_at - now > 300:
            return self.current, int(self.expires_at - now)
        self.current = f"ACCESS_TOKEN_{self.serial():04d}_" + "x" * 80
        self.issued.add(self.current)
        self.expires_at = now + self.lifetime_s
        return self.current, self.lifetime_s


ACCOUNT = web.AppKey("wechat_account", Account)


def _err(code: int, message: str) -> web.Response:
    return json_reply(
        200, {"errcode": code, "errmsg": f"{message} rid: 6789abcd-12345678-0a1b2c3d"}
    )


_MESSAGES = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40014: "invalid access_token",
    42001: "access_token expired",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40243: "AppSecret已被冻结",
    41002: "appid missing",
    41004: "appsecret missing",
    40164: "invalid ip 10.0.0.1 ipv6 ::ffff:10.0.0.1, not in whitelist",
    50004: "forbid to get token",
    50007: "account freezed",
    89503: "此IP调用需要管理员确认",
    89506: "24小时内该IP被管理员拒绝调用两次",
    89507: "1小时内该IP被管理员拒绝调用一次",
    48001: "api unauthorized",
    48004: "api forbidden for irregularities",
    50002: "user limited",
    53500: "publishing is banned",
    53504: "please use the draft on the web console",
    53505: "please save the draft manually on the web console first",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    53501: "publishing too frequently",
    45028: "has no masssend quota",
    40002: "invalid grant_type",
    43002: "require POST method",
    40005: "invalid file type",
    40009: "invalid image size",
    40007: "invalid media_id",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    45003: "title size out of limit",
    45110: "author size out of limit",
    45166: "invalid content",
    87014: "risky content",
    53404: "product insertion: too many products",
    53405: "product insertion: invalid product",
    53406: "product insertion: not allowed",
    53502: "Publish_id 无效",
    53503: "该草稿未通过发布检查",
    53600: "Article ID 无效",
}
ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    str(code): (lambda code=code, msg=msg: _err(code, msg))  # type: ignore[misc]
    for code, msg in _MESSAGES.items()
}
ERROR_REPLIES[500] = lambda: text_reply(500, "Internal Server Error")
ERROR_REPLIES[502] = lambda: text_reply(502, "<html>502 Bad Gateway</html>")


def fail(code: int) -> web.Response:
    return _err(code, _MESSAGES.get(code, "error"))


async def _issue(account: Account, appid: Any, secret: Any, force: bool) -> web.Response:
    if not appid:
        return fail(41002)
    if not secret:
        return fail(41004)
    if appid != APPID:
        return fail(40013)
    if secret != SECRET:
        return fail(40125)
    account.token_fetches += 1
    if account.token_delay_s:
        await asyncio.sleep(account.token_delay_s)
    token, expires_in = account.issue(force=force)
    return json_reply(200, {"access_token": token, "expires_in": expires_in})


async def _stable_token(request: web.Request) -> web.Response:
    account = request.app[ACCOUNT]
    if request.method != "POST":
        return fail(43002)
    try:
        body = json.loads(await request.read())
    except ValueError:
        return fail(40002)
    if not isinstance(body, dict) or body.get("grant_type") != "client_credential":
        return fail(40002)
    force = body.get("force_refresh") is True
    return await _issue(account, body.get("appid"), body.get("secret"), force)


async def _classic_token(request: web.Request) -> web.Response:
    query = request.query
    if query.get("grant_type") != "client_credential":
        return fail(40002)
    return await _issue(request.app[ACCOUNT], query.get("appid"), query.get("secret"), True)


def _token_error(account: Account, token: str) -> int | None:
    if not token:
        return 41001
    if token not in account.issued:
        return 40014
    if token != account.current:
        return 40001
    return 42001 if time.time() >= account.expires_at else None


@web.middleware
async def _guard(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """Token, encoding and per-API rate checks for every API call."""
    path = request.path
    if path.startswith("/assets/") or path in ("/cgi-bin/stable_token", "/cgi-bin/token"):
        return await handler(request)  # type: ignore[no-any-return]
    account, state = request.app[ACCOUNT], request.app[STATE]
    account.calls.append(path.removeprefix("/cgi-bin/"))
    problem = _token_error(account, request.query.get("access_token", ""))
    if problem is not None:
        return fail(problem)
    if request.content_type == "application/json" and _ESCAPE.search(await request.read()):
        return fail(40033)
    if state.retry_after(path) is not None:
        return fail(45011)
    return await handler(request)  # type: ignore[no-any-return]


async def _media(request: web.Request) -> tuple[str, bytes] | None:
    if request.content_type != "multipart/form-data":
        return None
    media = (await read_form(request)).get("media")
    if not isinstance(media, Upload):
        return None
    return media.content_type, media.data


async def _add_material(request: web.Request) -> web.Response:
    account = request.app[ACCOUNT]
    kind = request.query.get("type")
    media = await _media(request)
    if media is None or kind not in ("image", "thumb"):
        return fail(40005)
    content_type, data = media
    allowed = (
        {"image/jpeg"} if kind == "thumb" else {"image/jpeg", "image/png", "image/gif", "image/bmp"}
    )
    if content_type not in allowed:
        return fail(40005)
    if len(data) > (64 * 1024 if kind == "thumb" else 10 * 1024 * 1024):
        return fail(40009)
    media_id = f"MATERIAL_{account.serial():06d}"
    account.material[media_id] = kind
    url = f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id}/0"
    return json_reply(
        200, {"media_id": media_id, "url": url} if kind == "image" else {"media_id": media_id}
    )


async def _uploadimg(request: web.Request) -> web.Response:
    account = request.app[ACCOUNT]
    media = await _media(request)
    if media is None or media[0] not in ("image/jpeg", "image/png"):
        return fail(40005)
    if len(media[1]) >= 1024 * 1024:
        return fail(40009)
    url = f"http://mmbiz.qpic.cn/mmbiz_jpg/inline{account.serial():06d}/0"
    account.inline_urls.add(url)
    return json_reply(200, {"url": url})


def check_article(article: Any, account: Account | None = None) -> tuple[int, str] | None:
    """WeChat's verdict on a draft article, or None when accepted."""
    if not isinstance(article, dict):
        return 40007, "invalid article"
    title, content = article.get("title"), article.get("content")
    if not isinstance(title, str) or not title or len(title) > 32:
        return 45003, _MESSAGES[45003]
    if len(str(article.get("author") or "")) > 16:
        return 45110, _MESSAGES[45110]
    if len(str(article.get("digest") or "")) > 128:
        return 45004, "description size out of limit"
    if not isinstance(content, str) or not content or len(content) >= 20_000:
        return 45002, "content size out of limit"
    if len(content.encode()) >= 1024 * 1024:
        return 45002, "content size out of limit"
    if len(str(article.get("content_source_url") or "").encode()) > 1024:
        return 45005, "content_source_url size out of limit"
    if account is not None and account.material.get(str(article.get("thumb_media_id"))) is None:
        return 40007, _MESSAGES[40007]
    return None


def _strip_images(content: str, account: Account) -> str:
    return _IMG.sub(lambda m: m.group(0) if m.group(1) in account.inline_urls else "", content)


async def _draft_add(request: web.Request) -> web.Response:
    account = request.app[ACCOUNT]
    body = await request.json()
    articles = body.get("articles") if isinstance(body, dict) else None
    if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
        return fail(40007)
    for article in articles:
        verdict = check_article(article, account)
        if verdict is not None:
            return _err(*verdict)
    media_id = f"DRAFT_{account.serial():06d}"
    account.drafts[media_id] = [
        {**a, "content": _strip_images(a["content"], account)} for a in articles
    ]
    return json_reply(200, {"media_id": media_id})


async def _submit(request: web.Request) -> web.Response:
    account, state = request.app[ACCOUNT], request.app[STATE]
    body = await request.json()
    articles = account.drafts.pop(str(body.get("media_id")), None)
    if articles is None:
        return fail(40007)
    publish_id = str(2_247_483_647 + account.serial())
    account.publishes[publish_id] = {"articles": articles, "polls": account.publishing_polls}
    state.posts[publish_id] = articles[0]
    reply = {"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": 2_247_483_999}
    return json_reply(200, reply)


async def _get(request: web.Request) -> web.Response:
    account = request.app[ACCOUNT]
    body = await request.json()
    publish_id = str(body.get("publish_id"))
    job = account.publishes.get(publish_id)
    if job is None:
        return fail(53502)
    if job["polls"] > 0:
        job["polls"] -= 1
        return json_reply(200, {"publish_id": publish_id, "publish_status": 1})
    status = account.final_status
    if status != 0:
        return json_reply(
            200, {"publish_id": publish_id, "publish_status": status, "fail_idx": [1]}
        )
    article_id = job.setdefault("article_id", f"ARTICLE_{publish_id}")
    account.articles.setdefault(article_id, job["articles"][0])
    url = f"https://mp.weixin.qq.com/s/{article_id}"
    detail = {"count": 1, "item": [{"idx": 1, "article_url": url}]}
    return json_reply(
        200,
        {
            "publish_id": publish_id,
            "publish_status": 0,
            "article_id": article_id,
            "article_detail": detail,
            "fail_idx": [],
        },
    )


async def _delete(request: web.Request) -> web.Response:
    account, state = request.app[ACCOUNT], request.app[STATE]
    body = await request.json()
    article_id = str(body.get("article_id"))
    if account.articles.pop(article_id, None) is None:
        return fail(53600)
    state.deleted.append(article_id)
    return json_reply(200, {"errcode": 0, "errmsg": "ok"})


async def _draft_count(request: web.Request) -> web.Response:
    return json_reply(200, {"total_count": len(request.app[ACCOUNT].drafts)})


async def _asset(request: web.Request) -> web.Response:
    if request.path == IMAGE_PATH:
        return web.Response(body=JPEG, content_type="image/jpeg")
    if request.path == BIG_IMAGE_PATH:
        return web.Response(body=BIG_PNG, content_type="image/png")
    return web.Response(status=404, text="not found")


def create_app(state: ContractState, account: Account | None = None) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app._client_max_size = 11 * 1024 * 1024  # uploads of up to 10 MB
    app.middlewares.append(_guard)
    app[ACCOUNT] = account if account is not None else Account()
    app.router.add_route("*", "/cgi-bin/stable_token", _stable_token)
    app.router.add_get("/cgi-bin/token", _classic_token)
    app.router.add_post("/cgi-bin/material/add_material", _add_material)
    app.router.add_post("/cgi-bin/media/uploadimg", _uploadimg)
    app.router.add_post("/cgi-bin/draft/add", _draft_add)
    app.router.add_get("/cgi-bin/draft/count", _draft_count)
    app.router.add_post("/cgi-bin/freepublish/submit", _submit)
    app.router.add_post("/cgi-bin/freepublish/get", _get)
    app.router.add_post("/cgi-bin/freepublish/delete", _delete)
    app.router.add_get("/assets/{name}", _asset)
    return app


def check_post(post: Any) -> str:
    """Conformance check: the article passes draft/add's checks; returns its visible text
    (the tracked link is "阅读原文" and also written at the end of the content)."""
    article = dict(post.payload["article"])
    verdict = check_article(article)
    assert verdict is None, verdict
    assert article["content_source_url"] == post.link
    return html.unescape(re.sub(r"<[^>]+>", "\n", article["content"]))
