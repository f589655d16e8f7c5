"""Middlewares, outermost first: request id → JSON errors → body limit; auth on ``/api``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from hub.tenancy import Principal, authenticate
from hub.web.errors import BY_STATUS, ApiError, ErrorCode, error_response
from hub.web.keys import PRINCIPAL, REQUEST_ID, SESSIONS, SETTINGS

__all__ = ["auth", "body_limit", "json_errors", "principal", "request_id"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("hub.web")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


@web.middleware
async def request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = rid
    with structlog.contextvars.bound_contextvars(request_id=rid):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["X-Request-Id"] = rid
            raise
        response.headers["X-Request-Id"] = rid
        return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.code, exc.message, exc.details, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and other non-errors pass through untouched
        code = BY_STATUS.get(exc.status, ErrorCode.BAD_REQUEST)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        message = exc.reason if exc.status != 413 else "request body too large"
        return error_response(code, message, headers=headers)
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(ErrorCode.INTERNAL, "internal error; see the hub's log")


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared oversize body before reading it (aiohttp bounds the rest)."""
    limit = request.config_dict[SETTINGS].server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            "request body too large",
            {"max_bytes": limit, "got_bytes": request.content_length},
        )
    return await handler(request)


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Authorization: Bearer <api key>``; the principal scopes every query after it."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            ErrorCode.UNAUTHORIZED,
            "missing API key: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": 'Bearer realm="hub"'},
        )
    async with request.config_dict[SESSIONS]() as session:
        found = await authenticate(session, token.strip())
    if found is None:
        raise ApiError(
            ErrorCode.UNAUTHORIZED,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": 'Bearer realm="hub", error="invalid_token"'},
        )
    request[PRINCIPAL] = found
    with structlog.contextvars.bound_contextvars(merchant_id=found.merchant_id):
        return await handler(request)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]
