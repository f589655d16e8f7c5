"""``/api/v1/campaigns``: named campaigns with a reusable UTM template."""

from __future__ import annotations

from aiohttp import web

from hub.links import (
    CampaignIn,
    CampaignOut,
    DuplicateCampaign,
    create_campaign,
    get_campaign,
    list_campaigns,
)
from hub.web.api.paging import Page, PageQuery, page
from hub.web.bodies import path_id, read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import SESSIONS
from hub.web.middleware import principal
from hub.web.openapi import operation

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/campaigns")
@operation(
    "Create a campaign with a reusable UTM template",
    body=CampaignIn,
    response=CampaignOut,
    status=201,
    errors=(ErrorCode.CONFLICT,),
)
async def create(request: web.Request) -> web.Response:
    body = await read_json(request, CampaignIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await create_campaign(session, principal(request).merchant_id, body)
        except DuplicateCampaign as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
        await session.commit()
    return web.json_response(out.model_dump(mode="json"), status=201)


@routes.get("/campaigns")
@operation("List campaigns", query=PageQuery, response=Page[CampaignOut])
async def index(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_campaigns(
            session, principal(request).merchant_id, limit=query.limit, before_id=query.cursor
        )
    return web.json_response(page(items, query.limit))


@routes.get("/campaigns/{campaign_id}")
@operation("Read a campaign", response=CampaignOut)
async def show(request: web.Request) -> web.Response:
    campaign_id = path_id(request, "campaign_id", "campaign")
    async with request.config_dict[SESSIONS]() as session:
        out = await get_campaign(session, principal(request).merchant_id, campaign_id)
    if out is None:
        raise ApiError.not_found("campaign")
    return web.json_response(out.model_dump(mode="json"))
