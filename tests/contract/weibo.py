"""Weibo ``statuses/share`` contract server (shared/channels/china.md §3).

``POST /2/statuses/share.json`` (form or multipart) and ``GET /2/account/rate_limit_status.json``.
Checks: ``access_token`` (expired → 21327, unknown → 21332); ``status`` and ``rip`` present
(10016); ≤ 140 Chinese characters counted as Weibo's client does (Latin-1 ½, else 1) → 20012;
no ``#topic#`` (10017); a URL under the app's safe domain (`SAFE_DOMAIN_ERROR`, the code is
unconfirmed: a setting); ``pic`` only multipart (20007), JPEG/GIF/PNG (20005), < 5 MB (20006);
identical text again → 20019; 30 posts per hour per user → 20016 (``state.rate`` instead when a
test sets it). Errors are ``{"request", "error_code", "error"}`` with HTTP 400.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tests.contract._forms import Upload, read_form
from tests.contract._server import STATE, ContractState, json_reply, make_app, text_reply

TOKEN = "2.00ValidWeiboToken_abcdef"
EXPIRED_TOKEN = "2.00ExpiredWeiboToken_zzz"
SAFE_DOMAIN = "go.example"
SAFE_DOMAIN_ERROR = 20018
USER = {"id": 1404376560, "idstr": "1404376560", "screen_name": "shop"}
PATH = "/2/statuses/share.json"
MAX_PICTURE_BYTES = 5 * 1024 * 1024
_URL = re.compile(r"https?://[^\s<>\"']+")
_TOPIC = re.compile(r"#[^#]+#")

_MESSAGES = {
    10001: "system error",
    10002: "service unavailable",
    10003: "remote service error",
    10009: "too many pending tasks, system is busy",
    10022: "IP requests out of rate limit",
    10023: "User requests out of rate limit",
    10024: "User requests for (statuses/share) out of rate limit",
    20016: "update weibo too fast",
    21327: "expired_token",
    21314: "token used",
    21315: "token expired",
    21316: "token revoked",
    21317: "token rejected",
    21319: "accessor was revoked",
    21301: "auth faild",
    21332: "invalid_access_token",
    10014: "insufficient app permissions",
    10005: "insufficient app permissions",
    10016: "miss required parameter (status), see doc for more info",
    10017: "parameter (status)'s value invalid, see doc for more info",
    10008: "param error, see doc for more info",
    20012: "text too long, please input text less than 140 characters",
    20017: "repeated weibo text",
    20019: "repeat content",
    20111: "repeated content",
    20018: "contain illegal website",
    20020: "contain advertising",
    20021: "content is illegal",
    20005: "unsupported image type, only support JPG, GIF, PNG",
    20006: "image size too large",
    20007: "does multipart has image",
}


def _err(code: int, path: str = PATH) -> web.Response:
    return json_reply(400, {"request": path, "error_code": code, "error": _MESSAGES[code]})


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    str(code): (lambda code=code: _err(code))  # type: ignore[misc]
    for code in _MESSAGES
}
ERROR_REPLIES[400] = lambda: text_reply(400, "Bad Request")
ERROR_REPLIES[403] = lambda: text_reply(403, "Forbidden")
ERROR_REPLIES[500] = lambda: text_reply(500, "Internal Server Error")
ERROR_REPLIES[502] = lambda: text_reply(502, "<html>502 Bad Gateway</html>")


def weibo_length(text: str) -> int:
    """Weibo's client counter, in half units: non-Latin-1 characters are two."""
    return len(re.sub(r"[^\x00-\xff]", "aa", text))


def check_text(status: str) -> int | None:
    """The error code Weibo gives for a status text's length and topics, or None."""
    if not status.strip():
        return 10016
    if weibo_length(status) > 280:
        return 20012
    if _TOPIC.search(_URL.sub("", status)):
        return 10017
    return None


def check_status(status: str) -> int | None:
    """The error code Weibo gives for a status text, or None when it is acceptable."""
    problem = check_text(status)
    if problem is not None:
        return problem
    hosts = [urlsplit(url).hostname or "" for url in _URL.findall(status)]
    if not any(h == SAFE_DOMAIN or h.endswith("." + SAFE_DOMAIN) for h in hosts):
        return SAFE_DOMAIN_ERROR
    return None


async def _fields(request: web.Request) -> tuple[dict[str, Any], bool]:
    return dict(await read_form(request)), request.content_type == "multipart/form-data"


def _token_error(token: str) -> int | None:
    if token == EXPIRED_TOKEN:
        return 21327
    return None if token == TOKEN else 21332


async def _share(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    fields, is_multipart = await _fields(request)
    token_error = _token_error(str(fields.get("access_token", "")))
    if token_error is not None:
        return _err(token_error)
    if state.rate is None:
        state.rate = (30, 3600.0)
    if state.retry_after(TOKEN) is not None:
        return _err(20016)
    status, rip = fields.get("status"), fields.get("rip")
    if not isinstance(status, str) or not isinstance(rip, str) or not rip:
        return _err(10016)
    verdict = check_status(status)
    if verdict is not None:
        return _err(verdict)
    picture = fields.get("pic")
    if picture is not None:
        if not is_multipart or not isinstance(picture, Upload):
            return _err(20007)
        if picture.content_type not in ("image/jpeg", "image/png", "image/gif"):
            return _err(20005)
        if len(picture.data) >= MAX_PICTURE_BYTES:
            return _err(20006)
    if any(post["text"] == status for post in state.posts.values()):
        return _err(20019)
    number = 4_900_000_000_000_000 + state.new_id()
    result = {
        "created_at": time.strftime("%a %b %d %H:%M:%S +0800 %Y"),
        "id": number,
        "idstr": str(number),
        "mid": str(number),
        "text": status,
        "source": '<a href="https://app.example">Shop hub</a>',
        "user": USER,
    }
    if picture is not None:
        result["original_pic"] = "https://wx1.sinaimg.cn/large/abc.jpg"
    state.posts[str(number)] = result
    return json_reply(200, result)


async def _rate_limit_status(request: web.Request) -> web.Response:
    path = "/2/account/rate_limit_status.json"
    token_error = _token_error(request.query.get("access_token", ""))
    if token_error is not None:
        return _err(token_error, path)
    return json_reply(
        200,
        {
            "ip_limit": 15000,
            "limit_time_unit": "HOURS",
            "remaining_ip_hits": 15000,
            "remaining_user_hits": 100,
            "reset_time": "2026-01-01 00:00:00",
            "reset_time_in_seconds": 3600,
            "user_limit": 100,
        },
    )


async def _asset(request: web.Request) -> web.Response:
    """A product picture, as the merchant's CDN would serve it."""
    return web.Response(
        body=b"\xff\xd8\xff\xe0" + b"\x00" * 500 + b"\xff\xd9", content_type="image/jpeg"
    )


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_get("/assets/{name}", _asset)
    app.router.add_post(PATH, _share)
    app.router.add_get("/2/account/rate_limit_status.json", _rate_limit_status)
    return app


def check_post(post: Any) -> str:
    """Conformance check: Weibo's counter and topic rule accept the status text."""
    status = str(post.payload["status"])
    assert check_text(status) is None, (check_text(status), weibo_length(status))
    return status
