"""X API v2 contract server (shared/channels/global.md §6).

User-context auth only: an OAuth 2.0 user bearer token, or an OAuth 1.0a HMAC-SHA1 signed
``Authorization: OAuth …`` header, verified here from RFC 5849 (signature base string over the
method, the base URI and the query + ``oauth_*`` parameters; JSON and multipart bodies are not
signed), with a 5-minute timestamp window and nonces that may not repeat. An app-only bearer
token cannot post (403). ``POST /2/tweets`` validates ``text``/``media`` and the weighted length
(twitter-text v3: NFC, weight 1 for the light ranges, 2 otherwise, an emoji sequence 2, every
URL 23, max 280), refuses duplicate text with the documented 403, and answers 201. Media by
``POST /2/media/upload`` (multipart ``media`` + ``media_category``). ``DELETE /2/tweets/:id``,
``GET /2/users/me``; 429 with ``x-rate-limit-*`` headers (reset in unix seconds).

With a `Usage`, ``POST /2/tweets`` also keeps X's 24-hour post counters, the user's
(``x-user-limit-24hour-limit/-remaining/-reset``) and the app's (``x-app-limit-24hour-*``),
sent on every answer; a spent counter answers 429 with the documented body, both counters'
headers and the 15-minute ``x-rate-limit-*`` ones (not spent). Pay-per-use credits, when
counted, pay for one post each; with none left the answer is 402 Payment Required.

Two apps (`CONSUMER_KEY`, `OTHER_CONSUMER_KEY`) and users of each: an access token belongs to
one app and is refused with another app's consumer key. The app's counter is the app's, shared
by every user posting through it (the OAuth 2.0 user token is one of the first app's); each
user has a counter of their own. `Usage.user`/`Usage.app` are those of `ACCESS_TOKEN` (and
`OAUTH2_TOKEN`) and of the first app; `users`/`apps` hold the others', by token and key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import regex
from aiohttp import web

from tests.contract._server import STATE, ContractState, json_reply, make_app
from tests.contract.mastodon import cdn_image, read_form

CONSUMER_KEY = "xck-valid-consumer"
CONSUMER_SECRET = "xcs-consumer-Secret-123"
ACCESS_TOKEN = "1234-xat-valid-Access"
ACCESS_TOKEN_SECRET = "xats-token-Secret-456"
REVOKED_ACCESS_TOKEN = "1234-xat-revoked"
# A second user of the first app, and a second app with a user of its own.
SECOND_ACCESS_TOKEN = "5678-xat-second-Access"
SECOND_ACCESS_TOKEN_SECRET = "xats-second-Secret-654"
OTHER_CONSUMER_KEY = "xck-other-consumer"
OTHER_CONSUMER_SECRET = "xcs-other-Secret-321"
OTHER_APP_ACCESS_TOKEN = "9012-xat-otherapp-Access"
OTHER_APP_ACCESS_TOKEN_SECRET = "xats-otherapp-Secret-987"
OAUTH2_TOKEN = "xo2-user-Token-789"
REVOKED_OAUTH2_TOKEN = "xo2-revoked-Token"
APP_ONLY_TOKEN = "AAAA-app-only-bearer"
MAX_WEIGHTED = 280
_CONSUMER_SECRETS = {CONSUMER_KEY: CONSUMER_SECRET, OTHER_CONSUMER_KEY: OTHER_CONSUMER_SECRET}
# access token -> (its secret, the consumer key of the app it was issued to)
_TOKENS = {
    ACCESS_TOKEN: (ACCESS_TOKEN_SECRET, CONSUMER_KEY),
    REVOKED_ACCESS_TOKEN: ("xats-revoked", CONSUMER_KEY),
    SECOND_ACCESS_TOKEN: (SECOND_ACCESS_TOKEN_SECRET, CONSUMER_KEY),
    OTHER_APP_ACCESS_TOKEN: (OTHER_APP_ACCESS_TOKEN_SECRET, OTHER_CONSUMER_KEY),
}
_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_URL = re.compile(r"https?://[^\s<>\"']+")
_GRAPHEME = regex.compile(r"\X")
_EMOJI_POINT = regex.compile(r"[\p{Emoji}\p{Emoji_Component}]")
_EMOJI_BASE = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3]")
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
DAY_S = 86_400


@dataclass
class Window:
    """One 24-hour post counter: `limit` posts until `reset_at` (unix seconds); then the next
    window starts with none used."""

    limit: int
    used: int = 0
    reset_at: int = field(default_factory=lambda: int(time.time()) + DAY_S)

    def roll(self) -> None:
        now = time.time()
        while now >= self.reset_at:
            self.used, self.reset_at = 0, self.reset_at + DAY_S

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def headers(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}-limit": str(self.limit),
            f"{prefix}-remaining": str(self.remaining),
            f"{prefix}-reset": str(self.reset_at),
        }


@dataclass(frozen=True)
class Caller:
    """Who made a request: the app (its consumer key) and the user (their access token)."""

    app: str = CONSUMER_KEY
    user: str = ACCESS_TOKEN


CALLER = web.RequestKey("x_caller", Caller)  # where `_auth` leaves it


@dataclass
class Usage:
    """What callers may still post: the users' and the apps' 24-hour counters (``None``: the
    tier sends none) and the pay-per-use credits in posts (``None``: not counted).

    `user` and `app` are the counters of `ACCESS_TOKEN` (and `OAUTH2_TOKEN`) and of the app
    of `CONSUMER_KEY`; `users` and `apps` the other users', by access token, and the other
    apps', by consumer key. An app's counter counts the posts of all its users."""

    user: Window | None = None
    app: Window | None = None
    credits: int | None = None
    users: dict[str, Window] = field(default_factory=dict)
    apps: dict[str, Window] = field(default_factory=dict)

    def windows(self, caller: Caller = Caller()) -> dict[str, Window]:
        default_user = caller.user in (ACCESS_TOKEN, OAUTH2_TOKEN)
        user = self.user if default_user else self.users.get(caller.user)
        app = self.app if caller.app == CONSUMER_KEY else self.apps.get(caller.app)
        found = {"x-user-limit-24hour": user, "x-app-limit-24hour": app}
        return {prefix: w for prefix, w in found.items() if w is not None}

    def headers(self, caller: Caller = Caller()) -> dict[str, str]:
        out: dict[str, str] = {}
        for prefix, window in self.windows(caller).items():
            window.roll()
            out.update(window.headers(prefix))
        return out

    def refusal(self, caller: Caller = Caller()) -> web.Response | None:
        """The answer when `caller` may post nothing now, else None."""
        if self.credits is not None and self.credits <= 0:
            return _payment_required()
        windows = self.windows(caller)
        for window in windows.values():
            window.roll()
        if any(w.remaining == 0 for w in windows.values()):
            return _too_many(daily=self.headers(caller))
        return None

    def take(self, caller: Caller = Caller()) -> None:
        for window in self.windows(caller).values():
            window.used += 1
        if self.credits is not None:
            self.credits -= 1


USAGE = web.AppKey("x_usage", Usage)


def weighted_length(text: str) -> int:
    """twitter-text v3 weighted length, in units of the 280 limit."""

    def url(match: re.Match[str]) -> str:
        found = match.group(0)
        core = found.rstrip(".,:;!?)]}")
        return found if core.endswith("://") else "x" * 23 + found[len(core) :]

    total = 0
    for cluster in _GRAPHEME.findall(_URL.sub(url, unicodedata.normalize("NFC", text))):
        if all(_EMOJI_POINT.match(c) for c in cluster) and _EMOJI_BASE.search(cluster):
            total += 2
            continue
        for ch in cluster:
            light = any(lo <= ord(ch) <= hi for lo, hi in _LIGHT)
            total += 1 if light and not _EMOJI_BASE.match(ch) else 2
    return total


def _problem(status: int, title: str, detail: str, **headers: str) -> web.Response:
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return json_reply(status, body, headers)


def _too_many(retry_after_s: float = 30.0, daily: dict[str, str] | None = None) -> web.Response:
    """429; with `daily` (a spent 24-hour counter's headers) the 15-minute window has room."""
    reset = int(time.time() + retry_after_s + 0.999)
    headers = {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": "99" if daily else "0",
        "x-rate-limit-reset": str(reset),
        **(daily or {}),
    }
    return _problem(429, "Too Many Requests", "Too Many Requests", **headers)


def _daily_limit() -> web.Response:
    """The user's 24-hour counter spent, resetting in three hours; the app's has room."""
    now = int(time.time())
    user = Window(limit=17, used=17, reset_at=now + 3 * 3600)
    app = Window(limit=1667, used=40, reset_at=now + 5 * 3600)
    daily = user.headers("x-user-limit-24hour") | app.headers("x-app-limit-24hour")
    return _too_many(daily=daily)


def _payment_required() -> web.Response:
    return _problem(402, "Payment Required", "Your credits are exhausted.")


def _too_long() -> web.Response:
    body = {
        "errors": [{"message": "Your Tweet text is too long."}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    return json_reply(400, body)


def _unauthorized() -> web.Response:
    return _problem(401, "Unauthorized", "Unauthorized")


ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    "duplicate_content": lambda: _problem(403, "Forbidden", DUPLICATE),
    "text_too_long": _too_long,
    "daily_limit": _daily_limit,
    400: lambda: json_reply(
        400, {"errors": [{"message": "The `text` field must be a string"}], "title": "Invalid"}
    ),
    401: _unauthorized,
    402: _payment_required,
    403: lambda: _problem(403, "Forbidden", "You are not permitted to perform this action."),
    404: lambda: _problem(404, "Not Found Error", "Could not find the resource."),
    429: _too_many,
    500: lambda: _problem(500, "Internal Server Error", "Internal Server Error"),
    502: lambda: web.Response(status=502, text="<html>502</html>", content_type="text/html"),
    503: lambda: _problem(503, "Service Unavailable", "Service Unavailable"),
}


def _pct(value: str) -> str:
    return quote(value, safe="-._~")


def _oauth1(request: web.Request, state: ContractState) -> web.Response | None:
    """Verify an OAuth 1.0a HMAC-SHA1 header (RFC 5849 §3.4); None when it is valid."""
    params = {k: unquote(v) for k, v in _OAUTH_PARAM.findall(request.headers["Authorization"])}
    required = {"oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_nonce"}
    if not required | {"oauth_timestamp", "oauth_signature"} <= params.keys():
        return _unauthorized()
    if params["oauth_signature_method"] != "HMAC-SHA1" or params.get("oauth_version", "1.0") != (
        "1.0"
    ):
        return _unauthorized()
    consumer_secret = _CONSUMER_SECRETS.get(params["oauth_consumer_key"])
    token_secret, token_app = _TOKENS.get(params["oauth_token"], (None, None))
    if consumer_secret is None or token_secret is None:
        return _unauthorized()
    if token_app != params["oauth_consumer_key"]:  # a token works with its own app only
        return _unauthorized()
    if abs(time.time() - int(params["oauth_timestamp"])) > 300:
        return _unauthorized()
    nonces: set[str] = state.idempotency.setdefault("nonces", set())
    if params["oauth_nonce"] in nonces:
        return _unauthorized()
    nonces.add(params["oauth_nonce"])
    signed = [(k, v) for k, v in request.query.items()]
    signed += [(k, v) for k, v in params.items() if k not in ("oauth_signature", "realm")]
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in signed))
    base_uri = f"{request.scheme}://{request.host.lower()}{request.rel_url.raw_path}"
    base = "&".join([request.method.upper(), _pct(base_uri), _pct(normalized)])
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, params["oauth_signature"]):
        return _unauthorized()
    if params["oauth_token"] == REVOKED_ACCESS_TOKEN:
        return _unauthorized()
    request[CALLER] = Caller(params["oauth_consumer_key"], params["oauth_token"])
    return None


def _auth(request: web.Request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("OAuth "):
        return _oauth1(request, request.app[STATE])
    if header == f"Bearer {APP_ONLY_TOKEN}":
        return _problem(
            403,
            "Unsupported Authentication",
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
        )
    if header != f"Bearer {OAUTH2_TOKEN}":
        return _unauthorized()
    request[CALLER] = Caller(CONSUMER_KEY, OAUTH2_TOKEN)
    return None


def _media(state: ContractState) -> set[str]:
    return state.idempotency.setdefault("media", set())  # type: ignore[no-any-return]


async def _upload(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    try:
        form = await read_form(request)
    except ValueError:
        return json_reply(400, {"errors": [{"message": "media is required"}], "title": "Invalid"})
    media, category = form.get("media"), form.get("media_category")
    if media is None or not media.data or not media.content_type.startswith("image/"):
        return json_reply(400, {"errors": [{"message": "media is invalid"}], "title": "Invalid"})
    if category is None or category.text != "tweet_image":
        return json_reply(400, {"errors": [{"message": "bad media_category"}], "title": "Invalid"})
    media_id = str(1880000000000000000 + state.new_id())
    _media(state).add(media_id)
    data = {"id": media_id, "media_key": f"3_{media_id}", "size": len(media.data)}
    return json_reply(200, {"data": {**data, "expires_after_secs": 86400}})


def _invalid(message: str) -> web.Response:
    return json_reply(400, {"errors": [{"message": message}], "title": "Invalid Request"})


async def _create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    usage, caller = request.app[USAGE], request[CALLER]
    if (retry_after := state.retry_after("tweets")) is not None:
        limited = _too_many(retry_after)
        limited.headers.update(usage.headers(caller))
        return limited
    if (refused := usage.refusal(caller)) is not None:
        return refused
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _invalid("Request body is not valid JSON")
    if not isinstance(body, dict):
        return _invalid("Request body must be an object")
    text = body.get("text")
    media_ids = (body.get("media") or {}).get("media_ids") or []
    if text is not None and not isinstance(text, str):
        return _invalid("The `text` field must be a string")
    if not text and not media_ids:
        return _invalid("Post text or media is required")
    if text and weighted_length(text) > MAX_WEIGHTED:
        return _too_long()
    if len(media_ids) > 4 or any(m not in _media(state) for m in media_ids):
        return _invalid("Your media IDs are invalid.")
    if text and any(post["text"] == text for post in state.posts.values()):
        return _problem(403, "Forbidden", DUPLICATE)
    tweet_id = str(1346889436626259968 + state.new_id())
    post: dict[str, Any] = {"id": tweet_id, "text": text or "", "media_ids": media_ids}
    state.posts[tweet_id] = post
    usage.take(caller)
    answer = {"id": tweet_id, "text": text or "", "edit_history_tweet_ids": [tweet_id]}
    return json_reply(201, {"data": answer}, usage.headers(caller))


async def _delete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if (refused := _auth(request)) is not None:
        return refused
    tweet_id = request.match_info["id"]
    if state.posts.pop(tweet_id, None) is None:
        return _problem(404, "Not Found Error", f"Could not find tweet with id: [{tweet_id}].")
    state.deleted.append(tweet_id)
    return json_reply(200, {"data": {"deleted": True}})


async def _me(request: web.Request) -> web.Response:
    if (refused := _auth(request)) is not None:
        return refused
    return json_reply(200, {"data": {"id": "2244994945", "name": "Shop", "username": "shop"}})


def create_app(state: ContractState, usage: Usage | None = None) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app[USAGE] = usage or Usage()
    app.router.add_post("/2/tweets", _create)
    app.router.add_delete("/2/tweets/{id}", _delete)
    app.router.add_post("/2/media/upload", _upload)
    app.router.add_get("/2/users/me", _me)
    app.router.add_get("/cdn/{name}", cdn_image)
    return app
