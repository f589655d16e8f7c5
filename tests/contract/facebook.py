"""Facebook Graph API (Pages) contract server (shared/channels/global.md §7).

``POST /{version}/{page-id}/feed`` and ``/photos``, ``DELETE /{version}/{post-id}``,
``GET /{version}/me``. The ``access_token`` is read from the query, a form or JSON body, or a
Bearer header. Validates the version, the token (revoked → 190/463, a token of another Page →
200 permission error), ``message``/``caption`` ≤ 63,206 characters, ``link``/``url`` as absolute
URLs, rejects the same message twice in a row with 506, and answers with the Graph error object
under HTTP 400 (throttling included, with ``X-Business-Use-Case-Usage``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.contract._server import STATE, json_reply, make_app

PAGE_ID = "104857600123456"
OTHER_PAGE_ID = "200000000000001"
TOKEN = "EAAGpageTokenValid0123456789abcdef"
REVOKED_TOKEN = "EAAGpageTokenRevoked0123456789xyz"
OTHER_PAGE_TOKEN = "EAAGotherPageToken0123456789abcd"
MAX_MESSAGE = 63_206
_VERSION = re.compile(r"^v\d{1,2}\.\d$")
_TRACE = "AbCdEfGhIjK"


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    kind: str = "OAuthException",
    status: int = 400,
    transient: bool = False,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "is_transient": transient,
        "fbtrace_id": _TRACE,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return json_reply(status, {"error": error}, headers=headers)


def _throttled(code: int, message: str, minutes: int = 3) -> web.Response:
    usage = {
        PAGE_ID: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 20,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return graph_error(code, message, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})


def _bad_param(message: str, subcode: int | None = None) -> web.Response:
    return graph_error(100, message, subcode=subcode)


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "unknown_error": lambda: graph_error(
        1, "An unknown error occurred", status=500, transient=True
    ),
    "service_unavailable": lambda: graph_error(
        2, "An unexpected error has occurred. Please retry your request later.", transient=True
    ),
    "app_rate_limit": lambda: _throttled(4, "(#4) Application request limit reached"),
    "user_rate_limit": lambda: _throttled(17, "(#17) User request limit reached"),
    "page_rate_limit": lambda: _throttled(32, "(#32) Page request limit reached"),
    "app_limit_reached": lambda: _throttled(341, "(#341) Application limit reached"),
    "api_rate_limit": lambda: _throttled(
        613, "(#613) Calls to this api have exceeded the rate limit."
    ),
    "business_rate_limit": lambda: _throttled(
        80001, "There have been too many calls to this Page account."
    ),
    "permission_denied": lambda: graph_error(
        200,
        "(#200) If posting to a page, requires both pages_read_engagement and "
        "pages_manage_posts permission",
        status=403,
    ),
    "invalid_parameter": lambda: _bad_param("(#100) Invalid parameter"),
    "access_token_invalid": lambda: graph_error(
        190, "Error validating access token: Session has expired.", subcode=463, status=401
    ),
    "temporarily_blocked": lambda: graph_error(
        368, "It looks like you were misusing this feature by going too fast."
    ),
    "duplicate_content": lambda: graph_error(506, "(#506) Duplicate status message"),
    "link_scrape_failed": lambda: graph_error(
        1609005, "Error Posting Link: the link could not be scraped"
    ),
    400: lambda: json_reply(400, {"message": "Bad Request"}),
    403: lambda: web.Response(status=403, text="Forbidden"),
    500: lambda: web.Response(status=500, text="<html>Internal Server Error</html>"),
    503: lambda: web.Response(status=503, text="Service Unavailable"),
}


async def _params(request: web.Request) -> dict[str, str]:
    params: dict[str, str] = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            params.update({str(k): str(v) for k, v in dict(body).items()})
        else:
            params.update({k: str(v) for k, v in (await request.post()).items()})
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and "access_token" not in params:
        params["access_token"] = auth.removeprefix("Bearer ")
    return params


def _token_error(token: str | None) -> web.Response | None:
    if token == REVOKED_TOKEN:
        return graph_error(
            190,
            "Error validating access token: Session has expired on Tuesday.",
            subcode=463,
        )
    if token not in (TOKEN, OTHER_PAGE_TOKEN):
        return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
    return None


def _is_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", value))


async def _publish(request: web.Request) -> web.Response:
    state = request.app[STATE]
    page_id, edge = request.match_info["node"], request.match_info["edge"]
    params = await _params(request)
    if (refused := _token_error(params.get("access_token"))) is not None:
        return refused
    if page_id not in (PAGE_ID, OTHER_PAGE_ID):
        return _bad_param(
            f"Unsupported post request. Object with ID '{page_id}' does not exist", 33
        )
    token_page = PAGE_ID if params["access_token"] == TOKEN else OTHER_PAGE_ID
    if token_page != page_id:
        return graph_error(200, "(#200) The user hasn't authorized the application", status=403)
    retry_after = state.retry_after(page_id)
    if retry_after is not None:
        return _throttled(32, "(#32) Page request limit reached", int(retry_after / 60) + 1)
    text_field = "message" if edge == "feed" else "caption"
    text = params.get(text_field, "")
    if len(text) > MAX_MESSAGE:
        return _bad_param(f"(#100) Param {text_field} must be at most {MAX_MESSAGE} chars")
    if edge == "feed":
        if not text and not params.get("link"):
            return _bad_param("(#100) Missing message or attachment")
        if "link" in params and not _is_url(params["link"]):
            return _bad_param("(#100) link URL is not properly formatted")
    else:
        if not _is_url(params.get("url", "")):
            return graph_error(324, "(#324) Requires upload file")
    last = [p for p in state.posts.values() if p["page_id"] == page_id][-1:]
    if text and last and last[0]["text"] == text:
        return graph_error(506, "(#506) Duplicate status message")
    post_id = f"{page_id}_{state.new_id()}"
    state.posts[post_id] = {"page_id": page_id, "edge": edge, "text": text, **params}
    state.posts[post_id].pop("access_token")
    if edge == "feed":
        return json_reply(200, {"id": post_id})
    return json_reply(200, {"id": str(state.new_id()), "post_id": post_id})


async def _node(request: web.Request) -> web.Response:
    state = request.app[STATE]
    node = request.match_info["node"]
    params = await _params(request)
    if (refused := _token_error(params.get("access_token"))) is not None:
        return refused
    if request.method == "GET" and node == "me":
        page_id = PAGE_ID if params["access_token"] == TOKEN else OTHER_PAGE_ID
        return json_reply(200, {"id": page_id, "name": "Blue Mug Shop"})
    if request.method == "DELETE":
        if state.posts.pop(node, None) is None:
            return _bad_param(
                f"(#100) Unsupported delete request. Object with ID '{node}' does not exist",
                33,
            )
        state.deleted.append(node)
        return json_reply(200, {"success": True})
    return _bad_param("Unsupported request", 33)


@web.middleware
async def _versioned(request: web.Request, handler: Any) -> web.StreamResponse:
    version = request.path.split("/")[1] if request.path.count("/") >= 2 else ""
    if not _VERSION.match(version):
        return graph_error(
            2635, f"({version}) is not a valid Graph API version", kind="GraphMethodException"
        )
    return await handler(request)  # type: ignore[no-any-return]


def create_app(state: Any) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.middlewares.append(_versioned)
    app.router.add_post("/{version}/{node}/{edge:(feed|photos)}", _publish)
    app.router.add_route("*", "/{version}/{node}", _node)
    return app
