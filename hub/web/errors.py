"""The API's one error format and its closed set of codes.

Every error leaves the hub as ``{"error": {"code", "message", "details"}}`` with the status
of its code. Handlers raise :class:`ApiError`; aiohttp's own HTTP exceptions (404 route,
405, 413 body too large) are converted by the middleware in ``hub.web.middleware``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiohttp import web

__all__ = ["ApiError", "ErrorCode", "error_response"]


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    INVALID_JSON = "invalid_json"
    VALIDATION_FAILED = "validation_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    GONE = "gone"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal_error"
    UNAVAILABLE = "service_unavailable"


STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.GONE: 410,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}

BY_STATUS: dict[int, ErrorCode] = {}
for _code, _status in STATUS.items():
    BY_STATUS.setdefault(_status, _code)


class ApiError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS[self.code]

    @classmethod
    def not_found(cls, what: str) -> ApiError:
        return cls(ErrorCode.NOT_FOUND, f"{what} not found")


def error_response(
    code: ErrorCode,
    message: str,
    details: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"code": code.value, "message": message, "details": details}}
    return web.json_response(body, status=STATUS[code], headers=headers)
