"""``/api/v1/shares``: schedule, list, read, reschedule, cancel or retract shares."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hub.publishing.jobs import enqueue_targets
from hub.publishing.manage import (
    Busy,
    ConfirmIn,
    RescheduleIn,
    approve_share,
    cancel_share,
    confirm_target,
    reschedule_share,
    series_from,
)
from hub.publishing.reads import ShareOut, ShareQuery, get_share, list_shares
from hub.publishing.shares import InvalidShare, NotFound, ShareIn, create_share
from hub.storage.types import utcnow
from hub.tenancy import Scope
from hub.web.api.paging import Page
from hub.web.bodies import path_id, read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import HTTP, SESSIONS, SETTINGS, TASKS, VAULT
from hub.web.middleware import principal
from hub.web.openapi import operation
from hub.web.scopes import require

__all__ = ["routes"]

routes = web.RouteTableDef()


class CancelQuery(BaseModel):
    series: bool = Field(default=False, description="Also every later share of its series.")


_id = path_id


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "request is invalid",
        {"fields": [{"field": field, "message": message, "type": "value_error"}]},
    )


async def _share_body(
    request: web.Request, session: AsyncSession, merchant_id: int, share_id: int
) -> dict[str, Any]:
    """The share as the API shows it, read back after a change; 404 when it is not there."""
    out = await get_share(session, merchant_id, share_id, settings=request.config_dict[SETTINGS])
    if out is None:
        raise ApiError.not_found("share")
    return out.model_dump(mode="json")


@routes.post("/shares")
@operation(
    "Schedule a share: one target per channel account, each with its own tracked link",
    body=ShareIn,
    response=ShareOut,
    status=201,
    errors=(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND),
)
async def create(request: web.Request) -> web.Response:
    merchant_id = require(request, Scope.SHARES_WRITE).merchant_id
    body = await read_json(request, ShareIn)
    settings = request.config_dict[SETTINGS]
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await create_share(session, merchant_id, body, settings=settings)
        except NotFound as exc:
            await session.rollback()
            raise ApiError.not_found(exc.what) from None
        except InvalidShare as exc:
            await session.rollback()
            raise _invalid(exc.field, exc.message) from None
        now = utcnow()
        due = [t.id for t in out.targets if t.due_at <= now and not body.draft]
        await session.commit()
    # Due now: straight to the workers (the scan would find them within a second anyway).
    await enqueue_targets(request.config_dict[TASKS], due)
    return web.json_response(out.model_dump(mode="json"), status=201)


@routes.get("/shares")
@operation(
    "List shares (filters: state, product, channel, series, from, to)",
    query=ShareQuery,
    response=Page[ShareOut],
)
async def index(request: web.Request) -> web.Response:
    query = read_query(request, ShareQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_shares(
            session,
            principal(request).merchant_id,
            query,
            settings=request.config_dict[SETTINGS],
        )
    return web.json_response(
        {
            "data": [i.model_dump(mode="json") for i in items],
            "next_cursor": str(items[-1].id) if len(items) == query.limit else None,
        }
    )


@routes.get("/shares/{share_id}")
@operation("Read a share with every target's state, reason, link and history", response=ShareOut)
async def show(request: web.Request) -> web.Response:
    share_id = _id(request, "share_id", "share")
    async with request.config_dict[SESSIONS]() as session:
        body = await _share_body(request, session, principal(request).merchant_id, share_id)
    return web.json_response(body)


@routes.patch("/shares/{share_id}")
@operation(
    "Reschedule the targets not published yet",
    body=RescheduleIn,
    response=ShareOut,
    errors=(ErrorCode.FORBIDDEN,),
)
async def reschedule(request: web.Request) -> web.Response:
    merchant_id = require(request, Scope.SHARES_WRITE).merchant_id
    share_id = _id(request, "share_id", "share")
    change = await read_json(request, RescheduleIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            moved = await reschedule_share(session, merchant_id, share_id, change)
        except ValueError as exc:
            raise _invalid("at", str(exc)) from None
        if moved is None:
            raise ApiError.not_found("share")
        body = await _share_body(request, session, merchant_id, share_id)
    return web.json_response(body)


@routes.delete("/shares/{share_id}")
@operation(
    "Cancel targets not published yet, retract published ones (?series=1: and later ones)",
    query=CancelQuery,
    response=ShareOut,
    errors=(ErrorCode.FORBIDDEN, ErrorCode.CONFLICT),
)
async def cancel(request: web.Request) -> web.Response:
    """Cancel targets not yet published and retract (delete remotely) published ones."""
    merchant_id = require(request, Scope.SHARES_WRITE).merchant_id
    share_id = _id(request, "share_id", "share")
    whole_series = read_query(request, CancelQuery).series
    async with request.config_dict[SESSIONS]() as session:
        ids = [share_id]
        if whole_series:  # this share and every later one of its series
            ids = await series_from(session, merchant_id, share_id) or ids
        settled = []
        for one in ids:
            try:
                done = await cancel_share(
                    session,
                    request.config_dict[VAULT],
                    request.config_dict[HTTP],
                    merchant_id,
                    one,
                )
            except Busy as exc:
                raise ApiError(
                    ErrorCode.CONFLICT, str(exc), headers={"Retry-After": "30"}
                ) from None
            if done is None:
                raise ApiError.not_found("share")
            settled.extend(done)
        body = await _share_body(request, session, merchant_id, share_id)
    body["results"] = [
        {"target_id": s.target_id, "state": s.state, "error": s.error} for s in settled
    ]
    return web.json_response(body)


@routes.post("/shares/{share_id}/targets/{target_id}/confirm")
@operation(
    "Settle a target of unknown outcome",
    body=ConfirmIn,
    response=ShareOut,
    errors=(ErrorCode.FORBIDDEN, ErrorCode.CONFLICT),
)
async def confirm(request: web.Request) -> web.Response:
    """The merchant says whether a target of unknown outcome was published."""
    merchant_id = require(request, Scope.SHARES_WRITE).merchant_id
    share_id = _id(request, "share_id", "share")
    target_id = _id(request, "target_id", "target")
    confirmation = await read_json(request, ConfirmIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            state = await confirm_target(session, merchant_id, share_id, target_id, confirmation)
        except ValueError as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
        if state is None:
            raise ApiError.not_found("target")
        body = await _share_body(request, session, merchant_id, share_id)
    return web.json_response(body)


@routes.post("/shares/{share_id}/approve")
@operation(
    "Approve a draft share (approve scope)",
    response=ShareOut,
    errors=(ErrorCode.FORBIDDEN, ErrorCode.CONFLICT),
)
async def approve(request: web.Request) -> web.Response:
    """A key with the ``approve`` scope releases a draft for publishing."""
    merchant_id = require(request, Scope.APPROVE).merchant_id
    share_id = _id(request, "share_id", "share")
    async with request.config_dict[SESSIONS]() as session:
        try:
            due = await approve_share(session, merchant_id, share_id)
        except ValueError as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
        if due is None:
            raise ApiError.not_found("share")
        body = await _share_body(request, session, merchant_id, share_id)
    await enqueue_targets(request.config_dict[TASKS], due)
    return web.json_response(body)
