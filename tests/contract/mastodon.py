"""Mastodon contract server (shared/channels/global.md §4).

Bearer tokens; ``POST /api/v2/media`` (multipart ``file`` with a MIME type, optional
``description``; 200, or 202 and then 206/200 on ``GET /api/v1/media/:id``),
``POST /api/v1/statuses`` (JSON or form) honouring ``Idempotency-Key`` for an hour (same key →
the same status, nothing posted again), length in grapheme clusters over ``spoiler_text`` +
``status`` with each URL as 23 and ``@user@domain`` as ``@user``, visibility values, media
that must have finished processing, ``DELETE /api/v1/statuses/:id`` (404 ``Record not found``),
``verify_credentials``, ``/api/v2/instance``, and 429 with ``X-RateLimit-*`` headers (reset as
ISO 8601). ``/cdn/<name>`` serves card images for the connector to download.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import regex
from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app

TOKEN = "mstdn-valid-Token_0123456789abcdef"
REVOKED_TOKEN = "mstdn-revoked-Token_9876543210"
MAX_CHARACTERS = 500
IDEMPOTENCY_TTL_S = 3600.0
VISIBILITIES = {"public", "unlisted", "private", "direct"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
# A 1x1 PNG: what the /cdn/ route serves.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
_URL = re.compile(r"https?://[^\s<>\"']+")
_URL_END = ".,:;!?)]}"
_MENTION = re.compile(r"(?<![\w/@])@(\w+)@[\w.-]*\w")
_GRAPHEME = regex.compile(r"\X")


def countable_length(text: str) -> int:
    """Mastodon's StatusLengthValidator: URLs as 23 characters (trailing punctuation is not
    part of a URL), remote mentions as their local part, then grapheme clusters."""

    def url(match: re.Match[str]) -> str:
        found = match.group(0)
        core = found.rstrip(_URL_END)
        if core.endswith("://"):
            return found
        return "x" * 23 + found[len(core) :]

    text = _MENTION.sub(r"@\1", _URL.sub(url, text))
    return len(_GRAPHEME.findall(text))


@dataclass(frozen=True)
class Part:
    """One field of a multipart/form-data body."""

    data: bytes
    content_type: str
    filename: str | None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


async def read_form(request: web.Request) -> dict[str, Part]:
    """Parse a multipart/form-data body (read from the cached body: the fault middleware has
    consumed the stream). Raises ValueError when it is not one."""
    if request.content_type != "multipart/form-data":
        raise ValueError("not multipart/form-data")
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = message_from_bytes(head + await request.read())
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    parts: dict[str, Part] = {}
    for item in message.get_payload():
        assert not isinstance(item, str)
        name = item.get_param("name", header="content-disposition")
        payload = item.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise ValueError("form field without a name")
        parts[name] = Part(payload, item.get_content_type(), item.get_filename())
    return parts


def _fail(status: int, error: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_reply(status, {"error": error}, headers)


def _limit_headers(retry_after_s: float) -> dict[str, str]:
    reset = datetime.now(UTC) + timedelta(seconds=retry_after_s)
    return {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def _too_many(retry_after_s: float = 30.0) -> web.Response:
    return _fail(429, "Too many requests", _limit_headers(retry_after_s))


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "the_access_token_is_invalid": lambda: _fail(401, "The access token is invalid"),
    "the_access_token_was_revoked": lambda: _fail(401, "The access token was revoked"),
    "outside_the_authorized_scopes": lambda: _fail(
        403, "This action is outside the authorized scopes"
    ),
    "text_character_limit": lambda: _fail(
        422, "Validation failed: Text character limit of 500 exceeded"
    ),
    "text_can_t_be_blank": lambda: _fail(422, "Validation failed: Text can't be blank"),
    "file_content_type_is_invalid": lambda: _fail(
        422, "Validation failed: File content type is invalid, File is invalid"
    ),
    "cannot_attach_files_that_have_not_finished_processing": lambda: _fail(
        422, "Cannot attach files that have not finished processing. Try again in a moment!"
    ),
    "record_not_found": lambda: _fail(404, "Record not found"),
    401: lambda: _fail(401, "This method requires an authenticated user"),
    403: lambda: _fail(403, "Your login is currently disabled"),
    404: lambda: web.Response(status=404, text="<html>Not Found</html>", content_type="text/html"),
    422: lambda: _fail(422, "Validation failed: Visibility is not included in the list"),
    429: _too_many,
    500: lambda: _fail(500, "We're sorry, but something went wrong on our end."),
    502: lambda: web.Response(status=502, text="<html>502</html>", content_type="text/html"),
    503: lambda: web.Response(status=503, text="<html>503</html>", content_type="text/html"),
}


def _auth(request: web.Request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if header == f"Bearer {REVOKED_TOKEN}":
        return _fail(401, "The access token was revoked")
    if header != f"Bearer {TOKEN}":
        return _fail(401, "The access token is invalid")
    return None


def _media(state: ContractState) -> dict[str, dict[str, Any]]:
    return state.idempotency.setdefault("media", {})  # type: ignore[no-any-return]


async def _upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    try:
        form = await read_form(request)
    except ValueError:
        return _fail(422, "Validation failed: File can't be blank")
    file = form.get("file")
    if file is None or file.filename is None:
        return _fail(422, "Validation failed: File can't be blank")
    if file.content_type not in IMAGE_TYPES or not file.data:
        return _fail(422, "Validation failed: File content type is invalid, File is invalid")
    description = form["description"].text if "description" in form else ""
    if len(description) > 1500:
        return _fail(422, "Validation failed: Description is too long")
    media_id = str(state.new_id())
    processing = file.filename.startswith("processing")
    media = {
        "id": media_id,
        "type": "image",
        "url": None if processing else f"https://files.example/{media_id}.png",
        "preview_url": f"https://files.example/{media_id}-small.png",
        "description": description or None,
        "_polls_left": 1 if file.filename.startswith("processing-slow") else 0,
    }
    _media(state)[media_id] = media
    shown = {k: v for k, v in media.items() if not k.startswith("_")}
    return json_reply(202 if processing else 200, shown)


async def _media_status(request: web.Request) -> web.Response:
    if (refused := _auth(request)) is not None:
        return refused
    media = _media(request.app[STATE]).get(request.match_info["id"])
    if media is None:
        return _fail(404, "Record not found")
    if media["_polls_left"] > 0:
        media["_polls_left"] -= 1
        return json_reply(206, {k: v for k, v in media.items() if not k.startswith("_")})
    media["url"] = f"https://files.example/{media['id']}.png"
    return json_reply(200, {k: v for k, v in media.items() if not k.startswith("_")})


async def _fields(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be an object")
        return body
    form = await request.post()
    fields: dict[str, Any] = {k: v for k, v in form.items() if not k.endswith("[]")}
    fields["media_ids"] = [str(v) for v in form.getall("media_ids[]", [])]
    return fields


def _check_status(state: ContractState, fields: dict[str, Any]) -> web.Response | None:
    status = str(fields.get("status") or "")
    media_ids = [str(m) for m in fields.get("media_ids") or []]
    if not status.strip() and not media_ids:
        return _fail(422, "Validation failed: Text can't be blank")
    if fields.get("visibility", "public") not in VISIBILITIES:
        return _fail(422, "Validation failed: Visibility is not included in the list")
    length = countable_length(str(fields.get("spoiler_text") or "") + status)
    if length > MAX_CHARACTERS:
        return _fail(422, f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded")
    if len(media_ids) > 4:
        return _fail(422, "Validation failed: Cannot attach more than 4 files")
    for media_id in media_ids:
        media = _media(state).get(media_id)
        if media is None:
            return _fail(422, "Validation failed: Media attachments are invalid")
        if media["url"] is None:
            return _fail(
                422,
                "Cannot attach files that have not finished processing. Try again in a moment!",
            )
    return None


async def _post_status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    key = request.headers.get("Idempotency-Key")
    keys: dict[str, tuple[str, float]] = state.idempotency.setdefault("keys", {})
    if key is not None and key in keys:
        status_id, at = keys[key]
        if time.monotonic() - at < IDEMPOTENCY_TTL_S and status_id in state.posts:
            return json_reply(200, state.posts[status_id])
    if (retry_after := state.retry_after("statuses")) is not None:
        return _too_many(retry_after)
    try:
        fields = await _fields(request)
    except ValueError:
        return _fail(400, "Invalid JSON")
    if (invalid := _check_status(state, fields)) is not None:
        return invalid
    status_id = str(state.new_id())
    media = [_media(state)[str(m)] for m in fields.get("media_ids") or []]
    status = {
        "id": status_id,
        "created_at": datetime.now(UTC).isoformat(),
        "uri": f"https://social.example/users/shop/statuses/{status_id}",
        "url": f"https://social.example/@shop/{status_id}",
        "visibility": fields.get("visibility", "public"),
        "language": fields.get("language"),
        "sensitive": bool(fields.get("sensitive", False)),
        "content": f"<p>{fields.get('status', '')}</p>",
        "text": fields.get("status", ""),
        "media_attachments": [{k: v for k, v in m.items() if not k.startswith("_")} for m in media],
        "card": None,
    }
    state.posts[status_id] = status
    if key is not None:
        keys[key] = (status_id, time.monotonic())
    return json_reply(200, status)


async def _delete_status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    status = state.posts.pop(request.match_info["id"], None)
    if status is None:
        return _fail(404, "Record not found")
    state.deleted.append(status["id"])
    return json_reply(200, status)


async def _verify(request: web.Request) -> web.Response:
    if (refused := _auth(request)) is not None:
        return refused
    return json_reply(200, {"id": "1", "username": "shop", "acct": "shop"})


async def _instance(request: web.Request) -> web.Response:
    return json_reply(
        200,
        {
            "domain": "social.example",
            "configuration": {
                "urls": {"streaming": "wss://social.example"},
                "statuses": {
                    "max_characters": MAX_CHARACTERS,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "supported_mime_types": sorted(IMAGE_TYPES),
                    "image_size_limit": 10485760,
                },
            },
        },
    )


async def cdn_image(request: web.Request) -> web.Response:
    """Card images for connectors to download: PNG, or 404 (`missing*`), or text (`*.txt`)."""
    name = request.match_info["name"]
    if name.startswith("missing"):
        return web.Response(status=404, text="not found")
    if name.endswith(".txt"):
        return web.Response(text="not an image")
    return web.Response(body=PNG, content_type="image/png")


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_post("/api/v2/media", _upload)
    app.router.add_get("/api/v1/media/{id}", _media_status)
    app.router.add_post("/api/v1/statuses", _post_status)
    app.router.add_delete("/api/v1/statuses/{id}", _delete_status)
    app.router.add_get("/api/v1/accounts/verify_credentials", _verify)
    app.router.add_get("/api/v2/instance", _instance)
    app.router.add_get("/cdn/{name}", cdn_image)
    return app
