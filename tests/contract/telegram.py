"""Telegram Bot API contract server (shared/channels/global.md §1).

Routes ``/bot<token>/<method>`` (method case-insensitive, GET or POST; JSON, form or query
parameters). Validates the token, ``chat_id``, HTML markup (documented tags and the four named
entities only), the 4096/1024 limits after entity parsing (counted in UTF-16 units), and
answers with the documented ``{"ok": …}`` shapes, including 429 with
``parameters.retry_after``.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app

TOKEN = "123456:valid-token_AbC"
REVOKED_TOKEN = "123456:revoked-token"
CHANNEL_ID = "-1001234567890"
CHATS: dict[str, dict[str, Any]] = {
    CHANNEL_ID: {"id": int(CHANNEL_ID), "type": "channel", "title": "Shop deals"},
    "@shopdeals": {
        "id": -1009876543210,
        "type": "channel",
        "title": "Deals",
        "username": "shopdeals",
    },
}
UNREACHABLE_PHOTO = "unreachable.example"
_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>")
_BAD_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


def parse_html(text: str) -> str:
    """Telegram's HTML parse mode: the visible text, or ValueError like "can't parse"."""
    out: list[str] = []
    stack: list[str] = []
    last = 0
    for match in _TAG.finditer(text):
        out.append(text[last : match.start()])
        last = match.end()
        closing, name = match.group(1), match.group(2).lower()
        if name not in _TAGS:
            raise ValueError(f'Unsupported start tag "{name}" at byte offset {match.start()}')
        if closing:
            if not stack or stack.pop() != name:
                raise ValueError(f"Unexpected end tag at byte offset {match.start()}")
        else:
            stack.append(name)
    out.append(text[last:])
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    visible = "".join(out)
    if "<" in visible or ">" in visible:
        raise ValueError("Unsupported start tag at byte offset 0")
    if _BAD_AMP.search(visible):
        raise ValueError("Character '&' is reserved and must be escaped with the preceding '\\'")
    return html.unescape(visible)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fail(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_reply(status, body)


def _bad(description: str) -> web.Response:
    return _fail(400, f"Bad Request: {description}")


def _forbidden(description: str) -> web.Response:
    return _fail(403, f"Forbidden: {description}")


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "can_t_parse_entities": lambda: _bad(
        'can\'t parse entities: Unsupported start tag "foo" at byte offset 0'
    ),
    "message_is_too_long": lambda: _bad("message is too long"),
    "message_caption_is_too_long": lambda: _bad("message caption is too long"),
    "wrong_file_identifier_http_url_specified": lambda: _bad(
        "wrong file identifier/HTTP URL specified"
    ),
    "failed_to_get_http_url_content": lambda: _bad("failed to get HTTP URL content"),
    "message_to_delete_not_found": lambda: _bad("message to delete not found"),
    "message_can_t_be_deleted": lambda: _bad("message can't be deleted"),
    "chat_not_found": lambda: _bad("chat not found"),
    "group_chat_was_upgraded_to_a_supergroup_chat": lambda: _fail(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1001111111111,
    ),
    "bot_was_blocked_by_the_user": lambda: _forbidden("bot was blocked by the user"),
    "bot_was_kicked_from_the_group_chat": lambda: _forbidden("bot was kicked from the group chat"),
    "bot_is_not_a_member_of_the_channel_chat": lambda: _forbidden(
        "bot is not a member of the channel chat"
    ),
    "not_enough_rights_to_send": lambda: _forbidden(
        "not enough rights to send text messages to the chat"
    ),
    400: lambda: _bad("PHOTO_INVALID_DIMENSIONS"),
    401: lambda: _fail(401, "Unauthorized"),
    403: lambda: _forbidden("user is deactivated"),
    404: lambda: _fail(404, "Not Found"),
    429: lambda: _fail(429, "Too Many Requests: retry after 7", retry_after=7),
    500: lambda: _fail(500, "Internal Server Error"),
    502: lambda: web.Response(
        status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
    ),
}


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be an object")
            params.update(body)
        else:
            params.update(dict(await request.post()))
    return params


def _message(state: ContractState, chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
    message_id = state.new_id()
    message = {"message_id": message_id, "date": int(time.time()), "chat": chat, **fields}
    state.posts[f"{chat['id']}:{message_id}"] = message
    return message


async def _method(request: web.Request) -> web.Response:
    state = request.app[STATE]
    token, method = request.match_info["token"], request.match_info["method"].lower()
    if token == REVOKED_TOKEN:
        return _fail(401, "Unauthorized")
    if token != TOKEN:
        return _fail(404, "Not Found")
    try:
        params = await _params(request)
    except ValueError:
        return _bad("invalid request body")
    if method == "getme":
        return json_reply(
            200,
            {
                "ok": True,
                "result": {
                    "id": 123456,
                    "is_bot": True,
                    "first_name": "Shop",
                    "username": "shop_bot",
                },
            },
        )
    chat = CHATS.get(str(params.get("chat_id", "")))
    if method not in {"getchat", "sendmessage", "sendphoto", "deletemessage"}:
        return _fail(404, "Not Found")
    if chat is None:
        return _bad("chat not found")
    if method == "getchat":
        return json_reply(200, {"ok": True, "result": chat})
    if method == "deletemessage":
        key = f"{chat['id']}:{params.get('message_id')}"
        if state.posts.pop(key, None) is None:
            return _bad("message to delete not found")
        state.deleted.append(key)
        return json_reply(200, {"ok": True, "result": True})
    retry_after = state.retry_after(str(chat["id"]))
    if retry_after is not None:
        seconds = int(retry_after + 0.999)
        return _fail(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
    field, limit = ("text", 4096) if method == "sendmessage" else ("caption", 1024)
    raw = str(params.get(field, ""))
    try:
        visible = parse_html(raw) if params.get("parse_mode") == "HTML" else raw
    except ValueError as exc:
        return _bad(f"can't parse entities: {exc}")
    if utf16_len(visible) > limit:
        return _bad("message is too long" if field == "text" else "message caption is too long")
    if method == "sendmessage":
        if not visible.strip():
            return _bad("message text is empty")
        return json_reply(200, {"ok": True, "result": _message(state, chat, text=visible)})
    photo = str(params.get("photo", ""))
    if not photo:
        return _bad("there is no photo in the request")
    if UNREACHABLE_PHOTO in photo:
        return _bad("failed to get HTTP URL content")
    sizes = [{"file_id": "AgAC-small", "file_unique_id": "AQAD1", "width": 90, "height": 90}]
    result = _message(state, chat, photo=sizes, caption=visible)
    return json_reply(200, {"ok": True, "result": result})


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_route("*", "/bot{token}/{method}", _method)
    return app
