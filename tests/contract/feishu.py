"""Feishu / Lark custom-bot contract server (shared/channels/china.md §4).

``POST /open-apis/bot/v2/hook/{token}``. Checks, in order: the hook token (unknown → 19001);
body ≤ 20 KB and JSON (else 9499 with HTTP 400); when the bot has a secret, ``timestamp``
within one hour of the server clock and ``sign`` equal, byte for byte, to
``base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`` (else 19021); the custom keyword
when the bot has one (19024); 5 requests/second and 100/minute (11232; ``state.rate`` instead
when a test sets it); the message shape (9499). Success carries ``code`` and the legacy
``StatusCode``. Business errors are HTTP 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app, text_reply

TOKEN = "2f6d5c2e-3b4a-4c8d-9e0f-a1b2c3d4e5f6"
UNSIGNED_TOKEN = "7a1b2c3d-0000-4c8d-9e0f-a1b2c3d4e5f6"
KEYWORD_TOKEN = "9c8b7a6d-1111-4c8d-9e0f-a1b2c3d4e5f6"
SECRET = "qJ8vXbVzR3mNf2Lk9TtWyA"
WRONG_SECRET = "zzzzWrongSecret000000"
KEYWORD = "好物"
BOTS: dict[str, dict[str, str | None]] = {
    TOKEN: {"secret": SECRET, "keyword": None},
    UNSIGNED_TOKEN: {"secret": None, "keyword": None},
    KEYWORD_TOKEN: {"secret": None, "keyword": KEYWORD},
}
MAX_BODY_BYTES = 20_000
MSG_TYPES = {"text", "post", "image", "share_chat", "interactive"}
NODE_TAGS = {"text", "a", "at", "img"}


def hook_url(token: str = TOKEN, host: str = "open.feishu.cn") -> str:
    return f"https://{host}/open-apis/bot/v2/hook/{token}"


def expected_sign(timestamp: str, secret: str) -> str:
    """Written from the documented construction, independently of the connector."""
    string_to_sign = f"{timestamp}\n{secret}"
    mac = hmac.new(string_to_sign.encode("utf-8"), digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("utf-8")


def _reply(code: int, msg: str, status: int = 200) -> web.Response:
    return json_reply(status, {"code": code, "msg": msg, "data": {}})


_SIGN_FAIL = "sign match fail or timestamp is not within one hour from current time"
_BAD_TOKEN = "param invalid: incoming webhook access token invalid"
ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "9499": lambda: _reply(9499, "Bad Request", 400),
    "19021": lambda: _reply(19021, _SIGN_FAIL),
    "19022": lambda: _reply(19022, "Ip Not Allowed"),
    "19024": lambda: _reply(19024, "Key Words Not Found"),
    "19001": lambda: _reply(19001, _BAD_TOKEN),
    "11232": lambda: _reply(11232, "frequency limited psm[lark.oapi.app_platform_runtime]"),
    "2200": lambda: _reply(2200, "Internal Error"),
    400: lambda: text_reply(400, "Bad Request"),
    429: lambda: text_reply(429, "Too Many Requests", {"Retry-After": "2"}),
    500: lambda: text_reply(500, "Internal Server Error"),
    502: lambda: text_reply(502, "<html>502 Bad Gateway</html>"),
}


def _texts(nodes: Any) -> str | None:
    if not isinstance(nodes, list):
        return None
    out: list[str] = []
    for node in nodes:
        if not isinstance(node, dict) or node.get("tag") not in NODE_TAGS:
            return None
        if node["tag"] in ("text", "a") and not isinstance(node.get("text"), str):
            return None
        if node["tag"] == "a" and not str(node.get("href", "")).startswith(("http://", "https://")):
            return None
        out.append(str(node.get("text", "")))
    return "".join(out)


def visible_text(body: Any) -> str | None:
    """What the group sees of a message, or None when Feishu would refuse its shape."""
    if not isinstance(body, dict) or body.get("msg_type") not in MSG_TYPES:
        return None
    content = body.get("content")
    if body["msg_type"] == "interactive":
        return json.dumps(body.get("card"), ensure_ascii=False) if body.get("card") else None
    if not isinstance(content, dict):
        return None
    if body["msg_type"] == "text":
        text = content.get("text")
        return text if isinstance(text, str) and text.strip() else None
    if body["msg_type"] != "post":
        return json.dumps(content, ensure_ascii=False)
    post = content.get("post")
    if not isinstance(post, dict) or not post or set(post) - {"zh_cn", "en_us", "ja_jp"}:
        return None
    lines: list[str] = []
    for locale in post.values():
        if not isinstance(locale, dict) or not isinstance(locale.get("content"), list):
            return None
        for paragraph in locale["content"]:
            text = _texts(paragraph)
            if text is None:
                return None
            lines.append(text)
    return "\n".join(lines) if lines else None


def _signature_ok(body: dict[str, Any], secret: str, now: float) -> bool:
    timestamp, sign = body.get("timestamp"), body.get("sign")
    if not isinstance(timestamp, str | int) or not isinstance(sign, str):
        return False
    if not str(timestamp).isdigit() or abs(now - int(timestamp)) > 3600:
        return False
    return hmac.compare_digest(sign.encode(), expected_sign(str(timestamp), secret).encode())


class _Hook:
    def __init__(self, clock_offset_s: float) -> None:
        self.clock_offset_s = clock_offset_s
        self.second: list[float] = []

    async def __call__(self, request: web.Request) -> web.Response:
        state: ContractState = request.app[STATE]
        bot = BOTS.get(request.match_info["token"])
        if bot is None:
            return _reply(19001, _BAD_TOKEN)
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            return _reply(9499, "Bad Request", 400)
        try:
            body = json.loads(raw)
        except ValueError:
            return _reply(9499, "Bad Request", 400)
        if not isinstance(body, dict):
            return _reply(9499, "Bad Request", 400)
        now = time.time() + self.clock_offset_s
        if bot["secret"] is not None and not _signature_ok(body, bot["secret"], now):
            return _reply(19021, _SIGN_FAIL)
        if bot["keyword"] is not None and bot["keyword"] not in raw.decode():
            return _reply(19024, "Key Words Not Found")
        if self._throttled(state, request.match_info["token"]):
            return _reply(11232, "frequency limited psm[lark.oapi.app_platform_runtime]")
        text = visible_text(body)
        if text is None:
            return _reply(9499, "Bad Request", 400)
        state.posts[str(state.new_id())] = {**body, "visible": text}
        return json_reply(
            200,
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"},
        )

    def _throttled(self, state: ContractState, token: str) -> bool:
        if state.rate is not None:
            return state.retry_after(token) is not None
        now = time.monotonic()
        self.second = [t for t in self.second if now - t < 1.0]
        if len(self.second) >= 5:
            return True
        self.second.append(now)
        state.rate = (100, 60.0)
        throttled = state.retry_after(token) is not None
        state.rate = None
        return throttled


def create_app(state: ContractState, *, clock_offset_s: float = 0.0) -> web.Application:
    """`clock_offset_s` moves the server clock (signature-window tests)."""
    app = make_app(state, ERROR_REPLIES)
    handler = _Hook(clock_offset_s)

    async def route(request: web.Request) -> web.Response:
        return await handler(request)

    app.router.add_post("/open-apis/bot/v2/hook/{token}", route)
    return app


def check_post(post: Any) -> str:
    """Conformance check: the signed body fits 20 KB and Feishu accepts its shape."""
    body = {"timestamp": "1700000000", "sign": expected_sign("1700000000", SECRET), **post.payload}
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= MAX_BODY_BYTES, size
    text = visible_text(body)
    assert text is not None, body
    return text
