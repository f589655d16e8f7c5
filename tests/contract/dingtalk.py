"""DingTalk custom-robot contract server (shared/channels/china.md §5).

``POST /robot/send?access_token=T[&timestamp=ms&sign=…]``. Checks, in order: the token
(unknown → 400101); Content-Type JSON (43004); body ≤ 20 000 bytes; when the robot signs,
``timestamp`` (milliseconds) within one hour (310000 ``invalid timestamp``) and ``sign``, the
query URL-decoded exactly once, equal byte for byte to
``base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))`` (310000 ``sign not match``);
the keyword when the robot has one (310000 ``keywords not in content``); 20 messages per
minute, the 21st throttles the robot for 10 minutes (410100; ``state.rate`` instead when a test
sets it); the message shape (400105 / 40035). All answers are HTTP 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app, text_reply

TOKEN = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"
UNSIGNED_TOKEN = "0000c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0ffff"
KEYWORD_TOKEN = "1111c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f01111"
SECRET = "SEC8f2c4e6a1b3d5f7092a4c6e8f0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6"
WRONG_SECRET = "SEC0000000000000000000000000000000000000000000000000000000000000000"
KEYWORD = "好物"
ROBOTS: dict[str, dict[str, str | None]] = {
    TOKEN: {"secret": SECRET, "keyword": None},
    UNSIGNED_TOKEN: {"secret": None, "keyword": None},
    KEYWORD_TOKEN: {"secret": None, "keyword": KEYWORD},
}
MAX_BODY_BYTES = 20_000
BODY_TOO_LARGE = 460101  # the errcode of the 20 000-byte error is unconfirmed: a setting
THROTTLE_S = 600.0
REQUIRED = {
    "text": ("content",),
    "link": ("title", "text", "messageUrl"),
    "markdown": ("title", "text"),
    "actionCard": ("title", "text"),
    "feedCard": ("links",),
}


def webhook_url(token: str = TOKEN) -> str:
    return f"https://oapi.dingtalk.com/robot/send?access_token={token}"


def expected_sign(timestamp: str, secret: str) -> str:
    """Written from the documented construction (before URL-encoding)."""
    string_to_sign = f"{timestamp}\n{secret}"
    mac = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("utf-8")


def _err(code: int, message: str) -> web.Response:
    return json_reply(200, {"errcode": code, "errmsg": message})


_CODES: dict[str, tuple[int, str]] = {
    "-1": (-1, "系统繁忙"),
    "310000_invalid_timestamp": (310000, "invalid timestamp"),
    "310000_sign_not_match": (310000, "sign not match"),
    "310000_keywords_not_in_content": (310000, "keywords not in content"),
    "310000_ip_not_in_whitelist": (310000, "ip 10.1.2.3 not in whitelist"),
    "310000": (310000, "错误描述:安全设置校验失败;"),
    "410100": (410100, "发送速度太快而限流"),
    "130101": (130101, "send too fast, exceed 20 times per minute"),
    "400013": (400013, "群已被解散"),
    "400101": (400101, "access_token不存在"),
    "400102": (400102, "机器人已停用"),
    "400106": (400106, "机器人不存在"),
    "300001": (300001, "token is not exist"),
    "300005": (300005, "token is not exist"),
    "400105": (400105, "不支持的消息类型"),
    "430101": (430101, "含有不安全的外链"),
    "430102": (430102, "含有不合适的文本"),
    "430103": (430103, "含有不合适的图片"),
    "430104": (430104, "含有不合适的内容"),
    "40035": (40035, "缺少参数 json"),
    "43004": (43004, "无效的HTTP HEADER Content-Type"),
}
ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    key: (lambda code=code, msg=msg: _err(code, msg))  # type: ignore[misc]
    for key, (code, msg) in _CODES.items()
}
ERROR_REPLIES[500] = lambda: text_reply(500, "Internal Server Error")
ERROR_REPLIES[502] = lambda: text_reply(502, "<html>502 Bad Gateway</html>")


def visible_text(body: Any) -> str | None:
    """What the group sees of a message, or None when DingTalk would refuse its shape."""
    if not isinstance(body, dict) or body.get("msgtype") not in REQUIRED:
        return None
    inner = body.get(body["msgtype"])
    if not isinstance(inner, dict):
        return None
    for name in REQUIRED[body["msgtype"]]:
        if not inner.get(name):
            return None
    if body["msgtype"] == "link":
        if not str(inner["messageUrl"]).startswith(("http://", "https://")):
            return None
        return f"{inner['title']}\n{inner['text']}"
    return json.dumps(inner, ensure_ascii=False)


class _Robot:
    def __init__(self, clock_offset_s: float) -> None:
        self.clock_offset_s = clock_offset_s
        self.throttled_until: dict[str, float] = {}

    def _security(self, robot: dict[str, str | None], query: dict[str, list[str]]) -> str | None:
        secret = robot["secret"]
        if secret is None:
            return None
        timestamp = query.get("timestamp", [""])[0]
        now_ms = (time.time() + self.clock_offset_s) * 1000
        if not timestamp.isdigit() or abs(now_ms - int(timestamp)) > 3600 * 1000:
            return "invalid timestamp"
        sign = query.get("sign", [""])[0]  # parse_qs decodes exactly once
        if not hmac.compare_digest(sign.encode(), expected_sign(timestamp, secret).encode()):
            return "sign not match"
        return None

    def _throttled(self, state: ContractState, token: str) -> bool:
        now = time.monotonic()
        if self.throttled_until.get(token, 0.0) > now:
            return True
        if state.rate is not None:
            return state.retry_after(token) is not None
        state.rate = (20, 60.0)
        over = state.retry_after(token) is not None
        state.rate = None
        if over:
            self.throttled_until[token] = now + THROTTLE_S
        return over

    async def __call__(self, request: web.Request) -> web.Response:
        state: ContractState = request.app[STATE]
        # the query as sent, decoded here exactly once
        query = parse_qs(request.rel_url.raw_query_string, keep_blank_values=True)
        token = query.get("access_token", [""])[0]
        robot = ROBOTS.get(token)
        if robot is None:
            return _err(400101, "access_token不存在")
        if request.content_type != "application/json":
            return _err(43004, "无效的HTTP HEADER Content-Type")
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            return _err(BODY_TOO_LARGE, "body 大小不合法, 请保持大小在 20000bytes 以内")
        try:
            body = json.loads(raw)
        except ValueError:
            return _err(40035, "缺少参数 json")
        problem = self._security(robot, query)
        if problem is not None:
            return _err(310000, problem)
        if robot["keyword"] is not None and robot["keyword"] not in raw.decode():
            return _err(310000, "keywords not in content")
        if self._throttled(state, token):
            return _err(410100, "发送速度太快而限流")
        text = visible_text(body)
        if text is None:
            return _err(400105, "不支持的消息类型")
        state.posts[str(state.new_id())] = {**body, "visible": text}
        return _err(0, "ok")


def create_app(state: ContractState, *, clock_offset_s: float = 0.0) -> web.Application:
    """`clock_offset_s` moves the server clock (signature-window tests)."""
    app = make_app(state, ERROR_REPLIES)
    handler = _Robot(clock_offset_s)

    async def route(request: web.Request) -> web.Response:
        return await handler(request)

    app.router.add_post("/robot/send", route)
    return app


def check_post(post: Any) -> str:
    """Conformance check: the body fits 20 000 bytes and DingTalk accepts its shape."""
    body = dict(post.payload)
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= MAX_BODY_BYTES, size
    assert body["link"]["messageUrl"] == post.link
    text = visible_text(body)
    assert text is not None, body
    return text
