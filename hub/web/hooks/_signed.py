"""What every hook handler does first: find the merchant, check the signature, read JSON.

The merchant is named by the ``merchant`` query parameter (``/hooks/v1/conversions?merchant=12``):
storefront platforms let a merchant set the URL of a webhook but not its headers, so the
query is the one place every sender can use. Whether that merchant exists is never told
before a signature checks out: an unknown merchant, a merchant without the secret, a wrong
secret and an altered body all get the same 401, after the same HMAC work.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from attribution.conversions import (
    Platform,
    SignatureError,
    check_timestamp,
    parse_headers,
    platform_secret,
    verify,
    verify_body_hmac,
    webhook_key,
)
from attribution.conversions.signatures import DUMMY_KEY
from hub.storage.types import utcnow
from hub.web.bodies import field_errors
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import SESSIONS, SETTINGS, TASKS, VAULT

__all__ = [
    "enqueue_attribution",
    "merchant_param",
    "parse_body",
    "parse_json",
    "platform_signed",
    "standard_signed",
]

log = structlog.get_logger("hub.hooks")
M = TypeVar("M", bound=BaseModel)


def _refused(reason: str) -> ApiError:
    return ApiError(
        ErrorCode.UNAUTHORIZED, "webhook signature verification failed", {"reason": reason}
    )


def merchant_param(request: web.Request) -> int | None:
    """The ``merchant`` query parameter; 400 when absent, None when it cannot be an id."""
    raw = request.query.get("merchant")
    if raw is None:
        raise ApiError(
            ErrorCode.BAD_REQUEST,
            "name the merchant: add ?merchant=<merchant id> to the hook URL",
        )
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


async def standard_signed(request: web.Request) -> tuple[int, bytes]:
    """Check a Standard Webhooks delivery; the merchant id and the raw body."""
    merchant_id = merchant_param(request)
    body = await request.read()
    try:
        message = parse_headers(request.headers)
        tolerance = timedelta(seconds=request.config_dict[SETTINGS].attribution.webhook_tolerance_s)
        check_timestamp(message, utcnow(), tolerance)
    except SignatureError as exc:
        raise _refused(str(exc)) from None
    key = None
    if merchant_id is not None:
        async with request.config_dict[SESSIONS]() as session:
            key = await webhook_key(session, request.config_dict[VAULT], merchant_id)
    try:
        verify(key or DUMMY_KEY, message, body)
        if key is None:
            raise SignatureError("no signature matches")
    except SignatureError as exc:
        log.info("hook_refused", merchant_param=merchant_id, webhook_id=message.message_id)
        raise _refused(str(exc)) from None
    assert merchant_id is not None
    return merchant_id, body


async def platform_signed(
    request: web.Request, platform: Platform, header: str
) -> tuple[int, bytes]:
    """Check a Shopify / WooCommerce delivery (HMAC of the body in ``header``)."""
    merchant_id = merchant_param(request)
    body = await request.read()
    secret = None
    if merchant_id is not None:
        async with request.config_dict[SESSIONS]() as session:
            secret = await platform_secret(
                session, request.config_dict[VAULT], merchant_id, platform
            )
    try:
        verify_body_hmac(secret or DUMMY_KEY.hex(), body, request.headers.get(header))
        if secret is None:
            raise SignatureError("body signature does not match")
    except SignatureError as exc:
        log.info("hook_refused", platform=platform, merchant_param=merchant_id)
        raise _refused(str(exc)) from None
    assert merchant_id is not None
    return merchant_id, body


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            ErrorCode.INVALID_JSON, "request body is not valid JSON", {"reason": str(exc)}
        ) from None


def parse_body(body: bytes, model: type[M]) -> M:
    """The verified body as ``model``: 400 when not JSON, 422 when invalid."""
    try:
        return model.model_validate(parse_json(body))
    except ValidationError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED, "request is invalid", {"fields": field_errors(exc)}
        ) from None


async def enqueue_attribution(request: web.Request, conversion_ids: list[int]) -> None:
    """After commit: attribute now. A lost job is caught by the due-scan, so failures only log."""
    tasks = request.config_dict[TASKS]
    for conversion_id in conversion_ids:
        try:
            await tasks.enqueue("attribution.attribute_conversion", conversion_id=conversion_id)
        except Exception:
            log.exception("attribution_enqueue_failed", conversion_id=conversion_id)
            return
