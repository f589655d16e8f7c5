"""A receiver of Standard Webhooks, as a merchant's endpoint would implement it.

Verifies ``webhook-id``, ``webhook-timestamp`` (±5 minutes) and every ``v1,`` signature in
``webhook-signature`` (HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed by the base64 part
of the ``whsec_`` secret, compared in constant time); de-duplicates by ``webhook-id`` (a
repeated id is acknowledged again but processed once); 410 on a retired endpoint; 429 with
Retry-After when over its rate.
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

SECRET = "whsec_" + base64.b64encode(b"contract-server-signing-key-32b!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"a-rotated-old-secret-of-32-bytes").decode()
PATH = "/hooks/shop"
GONE_PATH = "/hooks/retired"
TOLERANCE_S = 300


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _problem(status: int, code: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_reply(
        status, {"error": {"code": code, "message": code.replace("_", " ")}}, headers=headers
    )


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    400: lambda: _problem(400, "bad_request"),
    401: lambda: _problem(401, "invalid_signature"),
    403: lambda: _problem(403, "forbidden"),
    404: lambda: text_reply(404, "Not Found"),
    408: lambda: text_reply(408, "Request Timeout"),
    410: lambda: text_reply(410, "Gone"),
    413: lambda: text_reply(413, "Payload Too Large"),
    422: lambda: _problem(422, "unprocessable"),
    429: lambda: _problem(429, "too_many_requests", {"Retry-After": "12"}),
    500: lambda: text_reply(500, "Internal Server Error"),
    502: lambda: text_reply(502, "Bad Gateway"),
    503: lambda: text_reply(503, "Service Unavailable", {"Retry-After": "5"}),
    504: lambda: text_reply(504, "Gateway Timeout"),
}


def _verify(request: web.Request, body: bytes) -> web.Response | None:
    msg_id = request.headers.get("webhook-id")
    timestamp = request.headers.get("webhook-timestamp", "")
    signatures = request.headers.get("webhook-signature", "")
    if not msg_id or not timestamp.isdigit() or not signatures:
        return _problem(400, "missing_webhook_headers")
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return _problem(401, "timestamp_out_of_tolerance")
    expected = expected_signature(SECRET, msg_id, timestamp, body)
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return _problem(401, "invalid_signature")


async def _receive(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    body = await request.read()
    refused = _verify(request, body)
    if refused is not None:
        return refused
    msg_id = request.headers["webhook-id"]
    if msg_id in state.idempotency:  # already processed: acknowledge again, do nothing
        return json_reply(200, state.idempotency[msg_id])
    if state.retry_after("endpoint") is not None:
        return _problem(429, "too_many_requests", {"Retry-After": "2"})
    try:
        event: Any = json.loads(body)
    except ValueError:
        return _problem(400, "invalid_json")
    if not isinstance(event, dict) or not {"type", "timestamp", "data"} <= event.keys():
        return _problem(422, "not_an_event")
    data = event["data"]
    answer: dict[str, Any] = {"received": msg_id}
    if event["type"] == "share.published":
        if not isinstance(data.get("link"), str) or data["link"] not in data.get("text", ""):
            return _problem(422, "link_missing")
        state.posts[msg_id] = event
        answer["url"] = f"https://receiver.example/shares/{msg_id}"
    elif event["type"] == "share.deleted":
        state.posts.pop(str(data.get("id")), None)
        state.deleted.append(str(data.get("id")))
    elif event["type"] != "webhook.ping":
        return _problem(422, "unknown_event_type")
    state.idempotency[msg_id] = answer
    return json_reply(200, answer)


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_post(PATH, _receive)
    app.router.add_post(GONE_PATH, _gone)
    return app


async def _gone(request: web.Request) -> web.Response:
    return text_reply(410, "Gone")
