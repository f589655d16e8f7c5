"""``/api/v1/keys``: the merchant's API keys (admin scope).

``POST {name, scopes}`` answers the new key's token once; it is stored hashed and never
shown again. ``GET`` lists keys without secrets; ``DELETE /keys/{id}`` revokes one (its next
request gets 401).
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.tenancy import ApiKeyInfo, Scope, create_api_key, list_api_keys, revoke_api_key
from hub.web.api.paging import Page, PageQuery, page
from hub.web.bodies import path_id, read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import SESSIONS
from hub.web.openapi import operation
from hub.web.scopes import require

__all__ = ["KeyCreated", "KeyIn", "KeyOut", "routes"]

_FORBIDDEN = (ErrorCode.FORBIDDEN,)

routes = web.RouteTableDef()


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[Scope]) -> list[Scope]:
        return sorted(set(value))


class KeyOut(BaseModel):
    id: int
    prefix: str
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKeyInfo) -> KeyOut:
        return cls(
            id=key.id,
            prefix=key.prefix,
            name=key.name,
            scopes=list(key.scopes),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class KeyCreated(KeyOut):
    # The key itself: shown in this answer only, stored as a hash.
    token: str


def _key_id(request: web.Request) -> int:
    return path_id(request, "key_id", "key")


@routes.post("/keys")
@operation(
    "Create an API key (its token is shown once)",
    body=KeyIn,
    response=KeyCreated,
    status=201,
    errors=_FORBIDDEN,
)
async def create(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    body = await read_json(request, KeyIn)
    async with request.config_dict[SESSIONS]() as session:
        issued = await create_api_key(
            session, caller.merchant_id, name=body.name, scopes=body.scopes
        )
        await session.commit()
        (made,) = await list_api_keys(session, caller.merchant_id, prefix=issued.prefix)
    out = KeyCreated(**KeyOut.of(made).model_dump(), token=issued.token)
    return web.json_response(out.model_dump(mode="json"), status=201)


@routes.get("/keys")
@operation(
    "List API keys (never their secrets)",
    query=PageQuery,
    response=Page[KeyOut],
    errors=_FORBIDDEN,
)
async def index(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    query = read_query(request, PageQuery)
    async with request.config_dict[SESSIONS]() as session:
        keys = await list_api_keys(
            session, caller.merchant_id, limit=query.limit, before_id=query.cursor
        )
    return web.json_response(page([KeyOut.of(k) for k in keys], query.limit))


@routes.delete("/keys/{key_id}")
@operation("Revoke an API key", response=KeyOut, errors=_FORBIDDEN)
async def revoke(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    key_id = _key_id(request)
    async with request.config_dict[SESSIONS]() as session:
        revoked = await revoke_api_key(session, merchant_id=caller.merchant_id, key_id=key_id)
        await session.commit()
    if revoked is None:
        raise ApiError.not_found("key")
    return web.json_response(KeyOut.of(revoked).model_dump(mode="json"))
