"""Request bodies and query strings in, validated by pydantic, with field-level errors; JSON
answers out."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.web.errors import ApiError, ErrorCode

__all__ = ["field_errors", "json_response", "path_id", "read_json", "read_query"]

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or None,
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


async def read_json(request: web.Request, model: type[M]) -> M:
    """The body as ``model``; 415 unless JSON, 400 when malformed, 422 when invalid."""
    if request.content_type != "application/json":
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send the body as application/json",
            {"content_type": request.content_type},
        )
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            ErrorCode.INVALID_JSON, "request body is not valid JSON", {"reason": str(exc)}
        ) from None
    return _validate(model, data)


def path_id(request: web.Request, name: str, what: str) -> int:
    """A row id from the path; anything but a plain id that fits BIGINT is 404 ``what``."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError.not_found(what)
    return int(raw)


def read_query(request: web.Request, model: type[M]) -> M:
    return _validate(model, dict(request.query))


def _validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED, "request is invalid", {"fields": field_errors(exc)}
        ) from None


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as an ``application/json`` answer, encoded by orjson: on an answer of thousands
    of rows it takes a fraction of the json module's time."""
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
    )
