"""``/api/v1/links``: tracked links, their state, and their QR codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.exceptions import RedisError

from attribution.edge import EDGE, redis_key
from hub.links import (
    InvalidSlug,
    LinkConflict,
    LinkOut,
    LinkPatch,
    NotFound,
    OutsideStorefront,
    create_link,
    get_link,
    list_links,
    qr_image,
    update_link,
)
from hub.web.api.paging import Page, PageQuery, page
from hub.web.bodies import read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import REDIS, SESSIONS, SETTINGS
from hub.web.middleware import principal
from hub.web.openapi import operation

__all__ = ["routes"]

routes = web.RouteTableDef()
log = structlog.get_logger("hub.links")

_Id = Field(default=None, ge=1, le=2**62)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product_id: int | None = _Id
    campaign_id: int | None = _Id
    channel_account_id: int | None = _Id
    share_target_id: int | None = _Id
    channel_kind: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    slug: str | None = Field(default=None, max_length=64)
    expires_at: datetime | None = None
    destination_url: str | None = Field(default=None, max_length=2048)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a time with a zone offset, e.g. 2030-01-01T00:00:00Z")
        return value


class LinkQuery(PageQuery):
    product_id: int | None = _Id
    share_target_id: int | None = _Id


class QrQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: int = Field(default=8, ge=1, le=40)
    border: int = Field(default=4, ge=0, le=16)


class LinkView(LinkOut):
    # short_url_path on this hub's public URL (server.public_url, else the request's host).
    short_url: str


def _invalid(field: str, message: str, kind: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "request is invalid",
        {"fields": [{"field": field, "message": message, "type": kind}]},
    )


def _base_url(request: web.Request) -> str:
    public = request.config_dict[SETTINGS].server.public_url.rstrip("/")
    return public or f"{request.scheme}://{request.host}"


def _view(request: web.Request, out: LinkOut) -> LinkView:
    return LinkView(**out.model_dump(), short_url=_base_url(request) + out.short_url_path)


def _body(request: web.Request, out: LinkOut) -> dict[str, Any]:
    return _view(request, out).model_dump(mode="json")


@routes.post("/links")
@operation(
    "Create a tracked link (to a product, the storefront or an explicit URL on it)",
    body=LinkIn,
    response=LinkView,
    status=201,
    errors=(ErrorCode.CONFLICT,),
)
async def create(request: web.Request) -> web.Response:
    body = await read_json(request, LinkIn)
    merchant_id = principal(request).merchant_id
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await create_link(
                session,
                merchant_id,
                **body.model_dump(),
                settings=request.config_dict[SETTINGS].links,
            )
        except NotFound as exc:
            raise _invalid(exc.what.replace(" ", "_") + "_id", str(exc), "not_found") from None
        except InvalidSlug as exc:
            raise _invalid("slug", str(exc), "slug") from None
        except OutsideStorefront as exc:
            raise _invalid("destination_url", str(exc), "storefront_origin") from None
        except LinkConflict as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
        await session.commit()
    await _forget(request, out.code)  # a slug may have been cached as unknown
    log.info("link_created", link_id=out.id, merchant_id=merchant_id)
    return web.json_response(_body(request, out), status=201)


@routes.get("/links")
@operation("List tracked links", query=LinkQuery, response=Page[LinkView])
async def index(request: web.Request) -> web.Response:
    query = read_query(request, LinkQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_links(
            session,
            principal(request).merchant_id,
            limit=query.limit,
            before_id=query.cursor,
            product_id=query.product_id,
            share_target_id=query.share_target_id,
        )
    return web.json_response(page([_view(request, i) for i in items], query.limit))


@routes.get("/links/{code}")
@operation("Read a tracked link", response=LinkView)
async def show(request: web.Request) -> web.Response:
    async with request.config_dict[SESSIONS]() as session:
        out = await get_link(session, principal(request).merchant_id, request.match_info["code"])
    if out is None:
        raise ApiError.not_found("link")
    return web.json_response(_body(request, out))


@routes.patch("/links/{code}")
@operation("Enable, disable or set the expiry of a link", body=LinkPatch, response=LinkView)
async def change(request: web.Request) -> web.Response:
    patch = await read_json(request, LinkPatch)
    code = request.match_info["code"]
    async with request.config_dict[SESSIONS]() as session:
        out = await update_link(session, principal(request).merchant_id, code, patch)
        if out is None:
            raise ApiError.not_found("link")
        await session.commit()
    await _forget(request, code)
    return web.json_response(_body(request, out))


@routes.get(r"/links/{code}/qr.{fmt:svg|png}")
@operation(
    "The link's QR code as SVG or PNG",
    query=QrQuery,
    media={"image/svg+xml": "QR code (qr.svg)", "image/png": "QR code (qr.png)"},
)
async def qr(request: web.Request) -> web.Response:
    query = read_query(request, QrQuery)
    fmt: Literal["svg", "png"] = "svg" if request.match_info["fmt"] == "svg" else "png"
    async with request.config_dict[SESSIONS]() as session:
        out = await get_link(session, principal(request).merchant_id, request.match_info["code"])
    if out is None:
        raise ApiError.not_found("link")
    image = qr_image(
        _base_url(request) + out.short_url_path, fmt, scale=query.scale, border=query.border
    )
    return web.Response(
        body=image,
        content_type="image/svg+xml" if fmt == "svg" else "image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def _forget(request: web.Request, code: str) -> None:
    """The edge sees the change now in this process, within edge.cache_ttl_s in others."""
    edge = request.config_dict.get(EDGE)
    if edge is not None:
        edge.cache.forget(code)
    redis = request.config_dict.get(REDIS)
    if redis is not None:
        try:
            await redis.delete(redis_key(code))
        except (RedisError, OSError):
            log.warning("link_cache_invalidation_failed", code=code)
