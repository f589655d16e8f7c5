"""LINE Messaging API contract server (shared/channels/global.md §8).

``POST /v2/bot/message/push`` and ``GET /v2/bot/info``. Validates the Bearer token, the
destination, 1-5 message objects (text ≤ 5000; image and flex URLs HTTPS ≤ 2000; flex
``altText`` ≤ 1500; button labels ≤ 40; URI actions ≤ 1000), and ``X-Line-Retry-Key`` (a UUID
in hex form). Honours the retry key: a key already accepted answers 409 with
``X-Line-Accepted-Request-Id`` naming the original request and the original ``sentMessages``,
and sends nothing again. Errors use ``{"message", "details"}``; 429 is either the monthly
limit or rate limiting. With a `MonthlyQuota`, pushes count against a number of messages per
calendar month in Japan time, and every reply's ``Date`` header is the server's clock, which a
test may set running ahead of ours (to just before a month ends).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app

TOKEN = "lineChannelAccessTokenValid+/0123456789="
REVOKED_TOKEN = "lineChannelAccessTokenRevoked0123456789"
USER_ID = "U" + "4af4980629" * 3 + "ab"
UNKNOWN_USER_ID = "U" + "0" * 32
_TO = re.compile(r"^[UCR][0-9a-f]{32}$")
_RETRY_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MONTHLY_LIMIT = "You have reached your monthly limit."
JST = timezone(timedelta(hours=9), "JST")


@dataclass
class MonthlyQuota:
    """`limit` messages per calendar month in Japan time (``None``: unlimited), counted on the
    server's clock, which runs `clock_offset_s` ahead of ours."""

    limit: int | None = None
    clock_offset_s: float = 0.0
    used: dict[str, int] = field(default_factory=dict)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def month(self) -> str:
        return self.now().astimezone(JST).strftime("%Y-%m")

    def exhaust(self) -> None:
        """This month's messages are all sent."""
        self.used[self.month()] = self.limit or 0

    def take(self, count: int) -> bool:
        """Count `count` messages against this month, or refuse them all."""
        if self.limit is None:
            return True
        month = self.month()
        if self.used.get(month, 0) + count > self.limit:
            return False
        self.used[month] = self.used.get(month, 0) + count
        return True


QUOTA = web.AppKey("line_quota", MonthlyQuota)


def _fail(status: int, message: str, *details: tuple[str, str]) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = [{"message": m, "property": p} for p, m in details]
    return json_reply(status, body, headers={"X-Line-Request-Id": str(uuid.uuid4())})


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "monthly_limit": lambda: _fail(429, MONTHLY_LIMIT),
    "invalid_retry_key": lambda: _fail(
        400, "The value for the 'X-Line-Retry-Key' header is invalid"
    ),
    400: lambda: _fail(
        400, "The request body has 1 error(s)", ("messages[0].text", "May not be empty")
    ),
    401: lambda: _fail(401, "Authentication failed due to the following reason: invalid token."),
    403: lambda: _fail(403, "Access to this API is not available for your account"),
    404: lambda: _fail(404, "Failed to send messages"),
    413: lambda: _fail(413, "Request Entity Too Large"),
    429: lambda: _fail(429, "The API rate limit has been exceeded. Try again later."),
    500: lambda: _fail(500, "Internal server error"),
    503: lambda: web.Response(status=503, text="Service Unavailable"),
}


def _https(url: Any) -> bool:
    return isinstance(url, str) and url.startswith("https://") and len(url) <= 2000


def _action(action: Any, where: str) -> str | None:
    if not isinstance(action, dict) or action.get("type") != "uri":
        return f"{where}.action: must be a uri action"
    uri = action.get("uri")
    if not isinstance(uri, str) or not re.match(r"^(https?|line|tel)://", uri) or len(uri) > 1000:
        return f"{where}.action.uri: invalid uri"
    label = action.get("label")
    if label is not None and (not isinstance(label, str) or not 1 <= len(label) <= 40):
        return f"{where}.action.label: must be 1-40 characters"
    return None


def _check_flex(message: dict[str, Any], where: str) -> str | None:
    alt = message.get("altText")
    if not isinstance(alt, str) or not 1 <= len(alt) <= 1500:
        return f"{where}.altText: must be 1-1500 characters"
    bubble = message.get("contents")
    if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
        return f"{where}.contents: must be a bubble"
    hero = bubble.get("hero")
    if hero is not None:
        if hero.get("type") != "image" or not _https(hero.get("url")):
            return f"{where}.contents.hero.url: must be an HTTPS URL of at most 2000 characters"
        if "action" in hero and (problem := _action(hero["action"], f"{where}.hero")):
            return problem
    for box_name in ("body", "footer"):
        box = bubble.get(box_name)
        if box is None:
            continue
        if box.get("type") != "box" or not isinstance(box.get("contents"), list):
            return f"{where}.contents.{box_name}: must be a box"
        for i, item in enumerate(box["contents"]):
            spot = f"{where}.contents.{box_name}.contents[{i}]"
            if item.get("type") == "text" and not (
                isinstance(item.get("text"), str) and item["text"]
            ):
                return f"{spot}.text: may not be empty"
            if item.get("type") == "button" and (problem := _action(item.get("action"), spot)):
                return problem
    return None


def check_push(body: Any) -> str | None:
    """The first problem LINE would report for a push body, or ``None`` when it is valid."""
    if not isinstance(body, dict) or not isinstance(body.get("to"), str):
        return "to: must be specified"
    if not _TO.match(body["to"]):
        return "to: invalid destination"
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "messages: size must be between 1 and 5"
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not 1 <= len(text) <= 5000:
                return f"{where}.text: must be 1-5000 characters"
        elif kind == "image":
            if not (
                _https(message.get("originalContentUrl")) and _https(message.get("previewImageUrl"))
            ):
                return f"{where}: image URLs must be HTTPS"
        elif kind == "flex":
            if problem := _check_flex(message, where):
                return problem
        else:
            return f"{where}.type: unsupported"
    return None


async def _push(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    if request.headers.get("Authorization") == f"Bearer {REVOKED_TOKEN}":
        return ERROR_REPLIES[401]()
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return ERROR_REPLIES[401]()
    key = request.headers.get("X-Line-Retry-Key")
    if key is not None and not _RETRY_KEY.match(key):
        return ERROR_REPLIES["invalid_retry_key"]()
    if key is not None and key in state.idempotency:
        original = state.idempotency[key]
        return json_reply(
            409,
            {"message": "The retry key is already accepted", "sentMessages": original["sent"]},
            headers={
                "X-Line-Request-Id": str(uuid.uuid4()),
                "X-Line-Accepted-Request-Id": original["request_id"],
            },
        )
    try:
        body = await request.json()
    except ValueError:
        return _fail(400, "The request body has 1 error(s)", ("", "Invalid JSON"))
    if problem := check_push(body):
        prop, _, message = problem.partition(": ")
        return _fail(400, "The request body has 1 error(s)", (prop, message))
    if body["to"] == UNKNOWN_USER_ID:
        return _fail(400, "Failed to send messages")
    if state.retry_after(body["to"]) is not None:
        return ERROR_REPLIES[429]()
    if not request.app[QUOTA].take(len(body["messages"])):
        return ERROR_REPLIES["monthly_limit"]()
    request_id = str(uuid.uuid4())
    sent = []
    for message in body["messages"]:
        message_id = str(state.new_id())
        sent.append({"id": message_id, "quoteToken": f"q{message_id}"})
        state.posts[message_id] = {"to": body["to"], "message": message, "retry_key": key}
    if key is not None:
        state.idempotency[key] = {"request_id": request_id, "sent": sent}
    return json_reply(200, {"sentMessages": sent}, headers={"X-Line-Request-Id": request_id})


async def _info(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return ERROR_REPLIES[401]()
    return json_reply(
        200,
        {
            "userId": "U" + "1" * 32,
            "basicId": "@216ru...",
            "displayName": "Blue Mug Shop",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        },
    )


@web.middleware
async def _server_date(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Date"] = format_datetime(request.app[QUOTA].now(), usegmt=True)
    return response


def create_app(state: ContractState, quota: MonthlyQuota | None = None) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app[QUOTA] = quota or MonthlyQuota()
    app.middlewares.insert(0, _server_date)
    app.router.add_post("/v2/bot/message/push", _push)
    app.router.add_get("/v2/bot/info", _info)
    return app
