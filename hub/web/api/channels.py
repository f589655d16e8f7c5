"""``/api/v1/channels``: the merchant's channel accounts. Credentials go in, never out."""

from __future__ import annotations

from aiohttp import web

from hub.channels.accounts import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    CheckOut,
    DuplicateChannel,
    InvalidChannel,
    check_account,
    create_account,
    delete_account,
    get_account,
    list_accounts,
    update_account,
)
from hub.publishing.states import resume_account
from hub.web.api.paging import Page, PageQuery, page
from hub.web.bodies import path_id, read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import HTTP, SESSIONS, VAULT
from hub.web.middleware import principal
from hub.web.openapi import operation

__all__ = ["routes"]

routes = web.RouteTableDef()


def _id(request: web.Request) -> int:
    return path_id(request, "channel_id", "channel")


def _invalid(exc: InvalidChannel) -> ApiError:
    return ApiError(ErrorCode.VALIDATION_FAILED, str(exc), {"fields": exc.fields})


@routes.post("/channels")
@operation(
    "Add a channel account (credentials are stored encrypted, never returned)",
    body=ChannelIn,
    response=ChannelOut,
    status=201,
    errors=(ErrorCode.CONFLICT,),
)
async def create(request: web.Request) -> web.Response:
    body = await read_json(request, ChannelIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await create_account(
                session, request.config_dict[VAULT], principal(request).merchant_id, body
            )
        except InvalidChannel as exc:
            raise _invalid(exc) from None
        except DuplicateChannel as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
    return web.json_response(out.model_dump(mode="json"), status=201)


@routes.get("/channels")
@operation("List channel accounts", query=PageQuery, response=Page[ChannelOut])
async def index(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_accounts(
            session,
            request.config_dict[VAULT],
            principal(request).merchant_id,
            limit=query.limit,
            before_id=query.cursor,
        )
    return web.json_response(page(items, query.limit))


@routes.get("/channels/{channel_id}")
@operation("Read a channel account", response=ChannelOut)
async def show(request: web.Request) -> web.Response:
    async with request.config_dict[SESSIONS]() as session:
        out = await get_account(
            session, request.config_dict[VAULT], principal(request).merchant_id, _id(request)
        )
    if out is None:
        raise ApiError.not_found("channel")
    return web.json_response(out.model_dump(mode="json"))


@routes.patch("/channels/{channel_id}")
@operation(
    "Change a channel account: name, config (secrets kept unless given), policy, status",
    body=ChannelPatch,
    response=ChannelOut,
    errors=(ErrorCode.CONFLICT,),
)
async def patch(request: web.Request) -> web.Response:
    channel_id = _id(request)
    body = await read_json(request, ChannelPatch)
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await update_account(
                session,
                request.config_dict[VAULT],
                principal(request).merchant_id,
                channel_id,
                body,
            )
        except InvalidChannel as exc:
            raise _invalid(exc) from None
        except DuplicateChannel as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
        if out is None:
            raise ApiError.not_found("channel")
        if out.status == "active":
            await resume_account(session, channel_id)
            await session.commit()
    return web.json_response(out.model_dump(mode="json"))


@routes.delete("/channels/{channel_id}")
@operation("Delete a channel account", status=204)
async def delete(request: web.Request) -> web.Response:
    async with request.config_dict[SESSIONS]() as session:
        found = await delete_account(session, principal(request).merchant_id, _id(request))
    if not found:
        raise ApiError.not_found("channel")
    return web.Response(status=204)


@routes.post("/channels/{channel_id}/check")
@operation("Check the account's credentials with the channel", response=CheckOut)
async def check(request: web.Request) -> web.Response:
    """Ask the channel whether the credentials work; a working account resumes its targets."""
    channel_id = _id(request)
    async with request.config_dict[SESSIONS]() as session:
        out = await check_account(
            session,
            request.config_dict[VAULT],
            request.config_dict[HTTP],
            principal(request).merchant_id,
            channel_id,
        )
        if out is None:
            raise ApiError.not_found("channel")
        if out.ok:
            await resume_account(session, channel_id)
            await session.commit()
    return web.json_response(out.model_dump(mode="json"))
