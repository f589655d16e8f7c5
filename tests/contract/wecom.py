"""WeCom group robot contract server (shared/channels/china.md §1).

``POST /cgi-bin/webhook/send?key=K``. Every answer is HTTP 200 ``{"errcode", "errmsg"}`` with
errmsg carrying a hint and the caller IP, as WeCom writes them. Checks: unknown key → 93000;
``msgtype`` one of the eight types (40008); UTF-8 **byte** limits (text 2048, markdown and
markdown_v2 4096 → 40058); empty text → 44004; news 1–8 articles (45008), title and url
required, url with http(s) (45034), title/description over 128/512 bytes silently truncated;
image base64 + MD5 of the raw bytes, ≤ 2 MB; 20 messages per minute per key → 45009 (with
``state.rate`` set, as the conformance suite does, that rate instead).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
REVOKED_KEY = "0b8e1c2d-dead-4bc4-97a0-000000000000"
MSGTYPES = {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
LIMIT_BYTES = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
RATE_PER_MINUTE = 20


def webhook_url(key: str = KEY) -> str:
    return f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def _err(code: int, message: str) -> web.Response:
    hint = "hint: [1700000000_1_abcdef], from ip: 127.0.0.1"
    more = f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
    return json_reply(200, {"errcode": code, "errmsg": f"{message}, {hint}, {more}"})


_MESSAGES = {
    -1: "system busy",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    93000: "invalid webhook url",
    40058: "markdown.content exceed max length 4096. invalid Request Parameter",
    40008: "invalid message type",
    40007: "invalid media_id",
    40004: "invalid media type",
    40006: "invalid file size",
    45001: "media size out of limit",
    44004: "empty content",
    45008: "article size out of limit",
    45034: "url must start with http or https",
    45002: "content size out of limit",
}
ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    str(code): (lambda code=code, message=message: _err(code, message))  # type: ignore[misc]
    for code, message in _MESSAGES.items()
}
ERROR_REPLIES[500] = lambda: web.Response(status=500, text="Internal Server Error")
ERROR_REPLIES[502] = lambda: web.Response(status=502, text="<html>502 Bad Gateway</html>")


def check(body: Any) -> tuple[int, str] | None:
    """WeCom's verdict on a message body: ``(errcode, errmsg)``, or None when accepted."""
    if not isinstance(body, dict) or body.get("msgtype") not in MSGTYPES:
        return 40008, _MESSAGES[40008]
    msgtype = body["msgtype"]
    inner = body.get(msgtype)
    if not isinstance(inner, dict):
        return 40058, f"missing {msgtype}"
    if msgtype in LIMIT_BYTES:
        content = inner.get("content")
        if not isinstance(content, str) or not content.strip():
            return 44004, _MESSAGES[44004]
        if utf8_len(content) > LIMIT_BYTES[msgtype]:
            limit = LIMIT_BYTES[msgtype]
            return 40058, f"{msgtype}.content exceed max length {limit}"
    if msgtype == "news":
        articles = inner.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return 45008, _MESSAGES[45008]
        for article in articles:
            if not isinstance(article, dict) or not article.get("title"):
                return 40058, "news.articles.title required"
            url = article.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return 45034, _MESSAGES[45034]
            picurl = article.get("picurl")
            if picurl is not None and not str(picurl).startswith(("http://", "https://")):
                return 45034, _MESSAGES[45034]
    if msgtype == "image":
        try:
            raw = base64.b64decode(str(inner.get("base64", "")), validate=True)
        except binascii.Error:
            return 40058, "invalid image.base64"
        if hashlib.md5(raw).hexdigest() != inner.get("md5"):
            return 40058, "image md5 mismatch"
        if len(raw) > 2 * 1024 * 1024:
            return 45001, _MESSAGES[45001]
    return None


def _stored(body: dict[str, Any]) -> dict[str, Any]:
    """What the group shows: news titles/descriptions cut silently at 128/512 bytes."""
    if body["msgtype"] != "news":
        return body
    articles = [
        {
            **a,
            "title": cut_bytes(str(a["title"]), 128),
            "description": cut_bytes(str(a.get("description", "")), 512),
        }
        for a in body["news"]["articles"]
    ]
    return {**body, "news": {"articles": articles}}


async def _send(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    key = request.query.get("key", "")
    if key != KEY:
        return _err(93000, _MESSAGES[93000])
    try:
        body = await request.json()
    except ValueError:
        return _err(40058, "invalid json")
    if state.rate is None:
        state.rate = (RATE_PER_MINUTE, 60.0)
    if state.retry_after(key) is not None:
        return _err(45009, _MESSAGES[45009])
    verdict = check(body)
    if verdict is not None:
        return _err(*verdict)
    state.posts[str(state.new_id())] = _stored(body)
    return json_reply(200, {"errcode": 0, "errmsg": "ok"})


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_post("/cgi-bin/webhook/send", _send)
    return app


def check_post(post: Any) -> str:
    """Conformance check of a rendered post: WeCom accepts it unchanged (nothing cut) and
    the text a reader sees, with the link, is returned."""
    body = dict(post.payload)
    assert check(body) is None, check(body)
    assert _stored(body) == body, "WeCom would cut a news title or description"
    if body["msgtype"] == "news":
        article = body["news"]["articles"][0]
        assert article["url"] == post.link
        return f"{article['title']}\n{article['description']}"
    return str(body[body["msgtype"]]["content"])
