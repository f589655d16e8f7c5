"""Slack contract servers (shared/channels/global.md §3): the Web API (`chat.postMessage`,
`chat.delete`, `auth.test`) and incoming webhooks.

Web API: Bearer token; errors as HTTP 200 ``{"ok": false, "error"}``, 429 ``ratelimited`` with
Retry-After. Webhooks: success is the plain-text body ``ok``; errors are plain-text codes with
a 4xx/5xx status. Both validate Block Kit limits (section text ≤ 3000 characters as typed,
image ``alt_text`` required and ≤ 2000, ≤ 50 blocks) and the 40,000-character text cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app, text_reply

TOKEN = "xoxb-1111-valid-Token"
REVOKED_TOKEN = "xoxb-2222-revoked"
CHANNEL = "C0123ABCD"
HOOK_PATH = "/services/T00000000/B00000000/validHookSecret123"
REVOKED_HOOK_PATH = "/services/T00000000/B00000000/revokedHookSecret9"


def hook_url(path: str = HOOK_PATH) -> str:
    return f"https://hooks.slack.com{path}"


def check_message(body: Any) -> str | None:
    """The Slack error code for a message body, or None when Slack would accept it."""
    if not isinstance(body, dict):
        return "invalid_payload"
    text, blocks = body.get("text"), body.get("blocks")
    if not text and not blocks:
        return "no_text"
    if isinstance(text, str) and len(text) > 40000:
        return "msg_too_long"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in {
            "section",
            "image",
            "actions",
            "divider",
        }:
            return "invalid_blocks"
        section_text = block.get("text")
        if block.get("type") == "section":
            if (
                not isinstance(section_text, dict)
                or not 1 <= len(str(section_text.get("text", ""))) <= 3000
            ):
                return "invalid_blocks"
        accessory = block.get("accessory")
        if accessory is not None:
            alt = accessory.get("alt_text")
            if not accessory.get("image_url") or not isinstance(alt, str) or not alt:
                return "invalid_blocks"
            if len(alt) > 2000 or len(str(accessory["image_url"])) > 3000:
                return "invalid_blocks"
    return None


def _api_error(code: str, status: int = 200, **headers: str) -> web.Response:
    return json_reply(status, {"ok": False, "error": code}, headers=headers)


_API_CODES = (
    "not_authed",
    "invalid_auth",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "missing_scope",
    "not_allowed_token_type",
    "no_permission",
    "ekm_access_denied",
    "restricted_action",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "too_many_attachments",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_blocks_too_long",
    "invalid_arguments",
    "message_not_found",
    "cant_delete_message",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
)
API_ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    code: (lambda code=code: _api_error(code))
    for code in _API_CODES  # type: ignore[misc]
}
API_ERROR_REPLIES.update(
    {
        "ratelimited": lambda: _api_error("ratelimited", 429, **{"Retry-After": "30"}),
        429: lambda: text_reply(429, "", {"Retry-After": "30"}),
        500: lambda: text_reply(500, "Internal Server Error"),
        503: lambda: text_reply(503, "Service Unavailable"),
    }
)


async def _api(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return _api_error("not_authed")
    token = auth.removeprefix("Bearer ")
    if token == REVOKED_TOKEN:
        return _api_error("token_revoked")
    if token != TOKEN:
        return _api_error("invalid_auth")
    try:
        body = await request.json()
    except ValueError:
        return _api_error("invalid_arguments")
    method = request.match_info["method"]
    if method == "auth.test":
        return json_reply(
            200,
            {
                "ok": True,
                "team": "Shop",
                "user": "shopbot",
                "team_id": "T00000000",
                "user_id": "U00000000",
            },
        )
    if body.get("channel") != CHANNEL:
        return _api_error("channel_not_found")
    if method == "chat.delete":
        key = f"{CHANNEL}:{body.get('ts')}"
        if state.posts.pop(key, None) is None:
            return _api_error("message_not_found")
        state.deleted.append(key)
        return json_reply(200, {"ok": True, "channel": CHANNEL, "ts": body.get("ts")})
    if method != "chat.postMessage":
        return _api_error("unknown_method", 404)
    if state.retry_after(CHANNEL) is not None:
        return _api_error("ratelimited", 429, **{"Retry-After": "1"})
    problem = check_message(body)
    if problem is not None:
        return _api_error(problem)
    ts = f"{int(time.time())}.{state.new_id():06d}"
    message = {
        "type": "message",
        "text": body.get("text", ""),
        "blocks": body.get("blocks"),
        "bot_id": "B00000000",
        "ts": ts,
    }
    state.posts[f"{CHANNEL}:{ts}"] = message
    return json_reply(200, {"ok": True, "channel": CHANNEL, "ts": ts, "message": message})


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, API_ERROR_REPLIES)
    app.router.add_post("/api/{method}", _api)
    return app


WEBHOOK_ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "invalid_payload": lambda: text_reply(400, "invalid_payload"),
    "user_not_found": lambda: text_reply(400, "user_not_found"),
    "missing_text_or_fallback_or_attachments": lambda: text_reply(
        400, "missing_text_or_fallback_or_attachments"
    ),
    "invalid_blocks": lambda: text_reply(400, "invalid_blocks"),
    "invalid_blocks_format": lambda: text_reply(400, "invalid_blocks_format"),
    "no_text": lambda: text_reply(400, "no_text"),
    "too_many_attachments": lambda: text_reply(400, "too_many_attachments"),
    "action_prohibited": lambda: text_reply(403, "action_prohibited"),
    "invalid_token": lambda: text_reply(403, "invalid_token"),
    "channel_not_found": lambda: text_reply(404, "channel_not_found"),
    "no_service": lambda: text_reply(404, "no_service"),
    "channel_is_archived": lambda: text_reply(410, "channel_is_archived"),
    "rollup_error": lambda: text_reply(500, "rollup_error"),
    403: lambda: text_reply(403, "Forbidden"),
    404: lambda: text_reply(404, "Not Found"),
    410: lambda: text_reply(410, "Gone"),
    429: lambda: text_reply(429, "rate_limited", {"Retry-After": "30"}),
    500: lambda: text_reply(500, "Internal Server Error"),
}


async def _hook(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    if request.path == REVOKED_HOOK_PATH:
        return text_reply(403, "invalid_token")
    if request.path != HOOK_PATH:
        return text_reply(404, "no_service")
    try:
        body = await request.json()
    except ValueError:
        return text_reply(400, "invalid_payload")
    if isinstance(body, dict) and not body:
        return text_reply(400, "missing_text_or_fallback_or_attachments")
    if state.retry_after("hook") is not None:
        return text_reply(429, "rate_limited", {"Retry-After": "1"})
    problem = check_message(body)
    if problem is not None:
        return text_reply(400, problem)
    state.posts[str(state.new_id())] = body
    return text_reply(200, "ok")


def create_webhook_app(state: ContractState) -> web.Application:
    app = make_app(state, WEBHOOK_ERROR_REPLIES)
    app.router.add_post("/services/{team}/{bot}/{secret}", _hook)
    return app
