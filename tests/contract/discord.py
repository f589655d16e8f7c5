"""Discord webhook contract server (shared/channels/global.md §2).

``POST /webhooks/{id}/{token}`` (``wait=true`` → 200 Message, else 204), ``GET`` the webhook,
``DELETE …/messages/{id}`` → 204. Validates the token, the body (something to send, content
≤ 2000, ≤ 10 embeds, title ≤ 256, description ≤ 4096, total ≤ 6000, username rules) and answers
with Discord's error shapes, including 429 with ``retry_after`` and Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, json_reply, make_app

WEBHOOK_ID = "112233445566778899"
TOKEN = "valid-Webhook_token-abc"
REVOKED_TOKEN = "revoked-token-xyz"
GUILD_ID = "998877665544332211"
CHANNEL_ID = "123451234512345123"


def webhook_url(token: str = TOKEN) -> str:
    return f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{token}"


def length(text: str) -> int:
    """Discord's limit unit is unconfirmed; the contract counts UTF-16 units (the strictest)."""
    return len(text.encode("utf-16-le")) // 2


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return json_reply(status, {"code": code, "message": message, **extra})


def _form_error(field: str, limit: int) -> web.Response:
    detail = {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }
    return _error(400, 50035, "Invalid Form Body", errors={field: detail})


def _rate_limited(retry_after: float = 2.5) -> web.Response:
    return json_reply(
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        headers={"Retry-After": str(int(retry_after + 0.999)), "X-RateLimit-Scope": "user"},
    )


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "50035": lambda: _form_error("content", 2000),
    "50006": lambda: _error(400, 50006, "Cannot send an empty message"),
    "50027": lambda: _error(401, 50027, "Invalid Webhook Token"),
    "10015": lambda: _error(404, 10015, "Unknown Webhook"),
    "10008": lambda: _error(404, 10008, "Unknown Message"),
    400: lambda: _error(400, 0, "400: Bad Request"),
    401: lambda: _error(401, 0, "401: Unauthorized"),
    403: lambda: _error(403, 50013, "Missing Permissions"),
    404: lambda: _error(404, 0, "404: Not Found"),
    429: _rate_limited,
    500: lambda: _error(500, 0, "500: Internal Server Error"),
    502: lambda: web.Response(
        status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
    ),
}


def _check_token(request: web.Request) -> web.Response | None:
    if request.match_info["id"] != WEBHOOK_ID:
        return _error(404, 10015, "Unknown Webhook")
    if request.match_info["token"] != TOKEN:
        return _error(401, 50027, "Invalid Webhook Token")
    return None


def validate(body: Any) -> web.Response | None:
    if not isinstance(body, dict):
        return _error(400, 50109, "The request body contains invalid JSON.")
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if not content and not embeds:
        return _error(400, 50006, "Cannot send an empty message")
    if length(content) > 2000:
        return _form_error("content", 2000)
    username = str(body.get("username") or "")
    if "clyde" in username.lower() or "discord" in username.lower():
        return _error(
            400,
            50035,
            "Invalid Form Body",
            errors={
                "username": {
                    "_errors": [
                        {
                            "code": "USERNAME_INVALID_CONTAINS",
                            "message": "Username cannot contain discord",
                        }
                    ]
                }
            },
        )
    if len(embeds) > 10:
        return _form_error("embeds", 10)
    total = 0
    for embed in embeds:
        title, description = str(embed.get("title", "")), str(embed.get("description", ""))
        if length(title) > 256:
            return _form_error("embeds.0.title", 256)
        if length(description) > 4096:
            return _form_error("embeds.0.description", 4096)
        total += length(title) + length(description)
    if total > 6000:
        return _form_error("embeds", 6000)
    return None


async def _execute(request: web.Request) -> web.Response:
    state = request.app[STATE]
    refused = _check_token(request)
    if refused is not None:
        return refused
    if state.retry_after(WEBHOOK_ID) is not None:
        return _rate_limited()
    try:
        body = await request.json()
    except ValueError:
        body = None
    invalid = validate(body)
    if invalid is not None:
        return invalid
    if request.query.get("wait") != "true":
        return web.Response(status=204)
    message_id = str(state.new_id())
    message = {
        "id": message_id,
        "type": 0,
        "channel_id": CHANNEL_ID,
        "guild_id": GUILD_ID,
        "webhook_id": WEBHOOK_ID,
        "content": body.get("content", ""),
        "embeds": [{**e, "type": "rich"} for e in body.get("embeds", [])],
        "attachments": [],
        "timestamp": "2026-11-25T11:00:00.000000+00:00",
        "author": {"id": WEBHOOK_ID, "username": body.get("username", "Shop"), "bot": True},
    }
    state.posts[message_id] = message
    return json_reply(200, message)


async def _delete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    refused = _check_token(request)
    if refused is not None:
        return refused
    message_id = request.match_info["message_id"]
    if state.posts.pop(message_id, None) is None:
        return _error(404, 10008, "Unknown Message")
    state.deleted.append(message_id)
    return web.Response(status=204)


async def _get(request: web.Request) -> web.Response:
    refused = _check_token(request)
    if refused is not None:
        return refused
    return json_reply(
        200,
        {
            "id": WEBHOOK_ID,
            "type": 1,
            "channel_id": CHANNEL_ID,
            "guild_id": GUILD_ID,
            "name": "Shop",
            "token": TOKEN,
        },
    )


def create_app(state: Any) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_post("/webhooks/{id}/{token}", _execute)
    app.router.add_get("/webhooks/{id}/{token}", _get)
    app.router.add_delete("/webhooks/{id}/{token}/messages/{message_id}", _delete)
    return app
