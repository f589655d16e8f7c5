"""What an API key may do: ``require(request, Scope.X)`` at the top of a handler.

A key's scopes are checked after authentication (``hub.web.middleware.auth``); ``admin``
allows everything. A missing scope answers 403 ``forbidden`` naming the scope needed, so a
client can tell a wrong key from a wrong request.
"""

from __future__ import annotations

from aiohttp import web

from hub.tenancy import Principal, Scope
from hub.web.errors import ApiError, ErrorCode
from hub.web.middleware import principal

__all__ = ["require"]


def require(request: web.Request, scope: Scope) -> Principal:
    """The caller, if its key has ``scope`` (or ``admin``); 403 ``forbidden`` otherwise."""
    caller = principal(request)
    if not caller.allows(scope):
        raise ApiError(
            ErrorCode.FORBIDDEN,
            f"this API key lacks the {scope.value!r} scope",
            {"missing_scope": scope.value, "key_scopes": sorted(caller.scopes)},
        )
    return caller
