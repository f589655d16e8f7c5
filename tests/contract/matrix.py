"""Matrix client-server API contract server (shared/channels/global.md §5).

Bearer tokens (``M_MISSING_TOKEN`` / ``M_UNKNOWN_TOKEN`` with ``soft_logout``); membership of
rooms (``M_FORBIDDEN`` "not in room", also for unknown rooms); ``PUT …/send/m.room.message/
{txnId}`` validating the ``m.text`` / ``m.image`` content (``format`` only
``org.matrix.custom.html``, ``formatted_body`` required with it, ``mxc://`` URLs of uploaded
media) and the 65,536-byte event limit (``M_TOO_LARGE``); transaction ids scoped to (token,
path): a retransmission gets the first response, even with another body; media upload;
redaction (200 also for unknown events, as observed on Synapse); ``whoami``, ``joined_rooms``;
429 ``M_LIMIT_EXCEEDED`` with ``retry_after_ms`` and ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app
from tests.contract.mastodon import cdn_image

SERVER = "hub.test"
TOKEN = "syt_c2hvcA_validTokenAbc_0a1b2c"
REVOKED_TOKEN = "syt_c2hvcA_revokedToken_9z8y7x"
USER_ID = f"@shop:{SERVER}"
ROOM_ID = f"!shopRoom:{SERVER}"
OTHER_ROOM_ID = f"!elsewhere:{SERVER}"
MAX_EVENT_BYTES = 65_536
ENVELOPE_BYTES = 1_200  # auth/prev events, hashes, signatures, sender, ts, depth …
MAX_UPLOAD_BYTES = 1 << 20
HTML_TAGS = set(
    "font del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s strike code "
    "hr br div table thead tbody tr th td caption pre span img details summary".split()
)


def _fail(status: int, errcode: str, error: str, **extra: Any) -> web.Response:
    headers = {}
    if "retry_after_ms" in extra:
        headers["Retry-After"] = str(int(extra["retry_after_ms"] / 1000 + 0.999))
    return json_reply(status, {"errcode": errcode, "error": error, **extra}, headers)


def _limited(retry_after_ms: int = 4771) -> web.Response:
    return _fail(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=retry_after_ms)


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "M_LIMIT_EXCEEDED": _limited,
    "M_UNKNOWN_TOKEN": lambda: _fail(
        401, "M_UNKNOWN_TOKEN", "Invalid access token passed.", soft_logout=False
    ),
    "M_MISSING_TOKEN": lambda: _fail(401, "M_MISSING_TOKEN", "Missing access token"),
    "M_FORBIDDEN": lambda: _fail(403, "M_FORBIDDEN", f"User {USER_ID} not in room {ROOM_ID}"),
    "M_RESOURCE_LIMIT_EXCEEDED": lambda: _fail(
        403,
        "M_RESOURCE_LIMIT_EXCEEDED",
        "Monthly active user limit exceeded",
        admin_contact="mailto:admin@hub.test",
    ),
    "M_NOT_JSON": lambda: _fail(400, "M_NOT_JSON", "Content not JSON."),
    "M_BAD_JSON": lambda: _fail(400, "M_BAD_JSON", "'body' not a string"),
    "M_TOO_LARGE": lambda: _fail(413, "M_TOO_LARGE", "event too large"),
    "M_NOT_FOUND": lambda: _fail(404, "M_NOT_FOUND", "Unknown event"),
    400: lambda: _fail(400, "M_UNKNOWN", "Bad request"),
    401: lambda: _fail(401, "M_UNKNOWN", "Unauthorized"),
    403: lambda: _fail(403, "M_UNKNOWN", "Forbidden"),
    404: lambda: _fail(404, "M_UNRECOGNIZED", "Unrecognized request"),
    413: lambda: _fail(413, "M_UNKNOWN", "Request too large"),
    429: lambda: web.Response(status=429, headers={"Retry-After": "3"}, text="slow down"),
    500: lambda: _fail(500, "M_UNKNOWN", "Internal server error"),
    502: lambda: web.Response(status=502, text="<html>502</html>", content_type="text/html"),
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [v for k, v in attrs if k == "href" and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_html(formatted_body: str) -> tuple[set[str], list[str], str]:
    """The tags, link targets and visible text of a ``formatted_body``."""
    parser = _Tags()
    parser.feed(formatted_body)
    parser.close()
    return parser.tags, parser.hrefs, "".join(parser.text)


def event_bytes(content: dict[str, Any]) -> int:
    """Bytes of the event this content becomes (canonical JSON + the server's envelope)."""
    encoded = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return len(encoded.encode("utf-8")) + ENVELOPE_BYTES


def check_content(content: Any, media: set[str] | frozenset[str] = frozenset()) -> str | None:
    """Why a message content is refused (``M_BAD_JSON`` text), or ``None`` when valid."""
    if not isinstance(content, dict):
        return "Content must be a JSON object."
    msgtype, body = content.get("msgtype"), content.get("body")
    if msgtype not in {"m.text", "m.notice", "m.image"}:
        return "unknown msgtype"
    if not isinstance(body, str):
        return "'body' not a string"
    if "format" in content:
        if content["format"] != "org.matrix.custom.html":
            return "'format' must be org.matrix.custom.html"
        if not isinstance(content.get("formatted_body"), str):
            return "'formatted_body' is required with 'format'"
    if msgtype == "m.image":
        url = content.get("url")
        if not isinstance(url, str) or not url.startswith("mxc://") or url not in media:
            return "'url' must be the mxc:// URI of uploaded media"
        info = content.get("info")
        if not isinstance(info, dict) or not str(info.get("mimetype", "")).startswith("image/"):
            return "'info.mimetype' must be an image type"
    return None


def _auth(request: web.Request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return _fail(401, "M_MISSING_TOKEN", "Missing access token")
    if header != f"Bearer {TOKEN}":
        return _fail(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.", soft_logout=False)
    return None


def _transactions(state: ContractState) -> dict[str, dict[str, Any]]:
    return state.idempotency.setdefault("txn", {})  # type: ignore[no-any-return]


def _media(state: ContractState) -> set[str]:
    return state.idempotency.setdefault("media", set())  # type: ignore[no-any-return]


def _not_in_room(room_id: str) -> web.Response:
    return _fail(403, "M_FORBIDDEN", f"User {USER_ID} not in room {room_id}")


async def _send(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    room_id = request.match_info["room"]
    if room_id != ROOM_ID:
        return _not_in_room(room_id)
    done = _transactions(state).get(request.path)
    if done is not None:  # a retransmission: the first answer, whatever the body
        return json_reply(200, done)
    if (retry_after := state.retry_after(room_id)) is not None:
        return _limited(int(retry_after * 1000))
    try:
        content = json.loads(await request.read())
    except ValueError:
        return _fail(400, "M_NOT_JSON", "Content not JSON.")
    if (problem := check_content(content, _media(state))) is not None:
        return _fail(400, "M_BAD_JSON", problem)
    if event_bytes(content) > MAX_EVENT_BYTES:
        return _fail(413, "M_TOO_LARGE", "event too large")
    event_id = f"${state.new_id()}evt{len(state.posts)}"
    state.posts[event_id] = {"room_id": room_id, "content": content, "txn": request.path}
    answer = {"event_id": event_id}
    _transactions(state)[request.path] = answer
    return json_reply(200, answer)


async def _redact(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    room_id = request.match_info["room"]
    if room_id != ROOM_ID:
        return _not_in_room(room_id)
    done = _transactions(state).get(request.path)
    if done is not None:
        return json_reply(200, done)
    event = state.posts.pop(request.match_info["event"], None)
    if event is not None:
        state.deleted.append(request.match_info["event"])
    answer = {"event_id": f"$redaction{state.new_id()}"}
    _transactions(state)[request.path] = answer
    return json_reply(200, answer)


async def _upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    data = await request.read()
    if len(data) > MAX_UPLOAD_BYTES:
        return _fail(413, "M_TOO_LARGE", "Upload request body is too large")
    if not data:
        return _fail(400, "M_UNKNOWN", "Empty upload")
    uri = f"mxc://{SERVER}/media{state.new_id()}"
    _media(state).add(uri)
    return json_reply(200, {"content_uri": uri})


async def _whoami(request: web.Request) -> web.Response:
    if (refused := _auth(request)) is not None:
        return refused
    return json_reply(200, {"user_id": USER_ID, "device_id": "HUBDEVICE", "is_guest": False})


async def _joined(request: web.Request) -> web.Response:
    if (refused := _auth(request)) is not None:
        return refused
    return json_reply(200, {"joined_rooms": [ROOM_ID]})


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    client = "/_matrix/client/v3"
    app.router.add_put(client + "/rooms/{room}/send/m.room.message/{txn}", _send)
    app.router.add_put(client + "/rooms/{room}/redact/{event}/{txn}", _redact)
    app.router.add_get(client + "/account/whoami", _whoami)
    app.router.add_get(client + "/joined_rooms", _joined)
    app.router.add_post("/_matrix/media/v3/upload", _upload)
    app.router.add_get("/cdn/{name}", cdn_image)
    return app
