"""``/api/v1/webhooks``: outbound webhook endpoints, their delivery log, redelivery (admin).

``POST {url, event_types}`` answers the endpoint with its signing ``secret`` (``whsec_...``),
shown this once. ``PATCH`` changes the URL or event types, or disables/enables the endpoint
(enabling forgets its failures). Deliveries are listed newest first with cursor paging and
``?state=pending|delivered|failed``; one delivery shows its payload and every attempt.
``POST .../redeliver`` queues one more attempt now (202).
"""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import Field

from hub.tenancy import Scope
from hub.web.api.paging import Page, PageQuery, page
from hub.web.bodies import path_id, read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import SESSIONS, SETTINGS, TASKS, VAULT
from hub.web.openapi import operation
from hub.web.scopes import require
from hub.webhooks.deliveries import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryState,
    EndpointDisabled,
    get_delivery,
    list_deliveries,
    redeliver,
)
from hub.webhooks.endpoints import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    InvalidEndpointUrl,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    update_endpoint,
)

__all__ = ["DeliveryQuery", "EndpointCreated", "routes"]

routes = web.RouteTableDef()
log = structlog.get_logger("hub.webhooks")

_ENDPOINT = "/webhooks/{endpoint_id}"
_DELIVERY = _ENDPOINT + "/deliveries/{delivery_id}"


_FORBIDDEN = (ErrorCode.FORBIDDEN,)


class DeliveryQuery(PageQuery):
    state: DeliveryState | None = Field(default=None, description="Only deliveries in this state.")


class EndpointCreated(EndpointOut):
    # The Standard Webhooks signing secret (whsec_...): shown in this answer only.
    secret: str


_id = path_id


def _bad_url(exc: InvalidEndpointUrl) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "request is invalid",
        {"fields": [{"field": "url", "message": str(exc), "type": "webhook_url"}]},
    )


def _allow_private(request: web.Request) -> bool:
    return request.config_dict[SETTINGS].webhooks.allow_private


@routes.post("/webhooks")
@operation(
    "Create a webhook endpoint (its signing secret is shown once)",
    body=EndpointIn,
    response=EndpointCreated,
    status=201,
    errors=_FORBIDDEN,
)
async def create(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    body = await read_json(request, EndpointIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            out, secret = await create_endpoint(
                session,
                request.config_dict[VAULT],
                caller.merchant_id,
                body,
                allow_private=_allow_private(request),
            )
        except InvalidEndpointUrl as exc:
            raise _bad_url(exc) from None
    created = EndpointCreated(**out.model_dump(), secret=secret)
    return web.json_response(created.model_dump(mode="json"), status=201)


@routes.get("/webhooks")
@operation("List webhook endpoints", query=PageQuery, response=Page[EndpointOut], errors=_FORBIDDEN)
async def index(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    query = read_query(request, PageQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_endpoints(
            session, caller.merchant_id, limit=query.limit, before_id=query.cursor
        )
    return web.json_response(page(items, query.limit))


@routes.get(_ENDPOINT)
@operation("Show a webhook endpoint", response=EndpointOut, errors=_FORBIDDEN)
async def show(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    endpoint_id = _id(request, "endpoint_id", "webhook")
    async with request.config_dict[SESSIONS]() as session:
        out = await get_endpoint(session, caller.merchant_id, endpoint_id)
    if out is None:
        raise ApiError.not_found("webhook")
    return web.json_response(out.model_dump(mode="json"))


@routes.patch(_ENDPOINT)
@operation(
    "Change, disable or enable a webhook endpoint",
    body=EndpointPatch,
    response=EndpointOut,
    errors=_FORBIDDEN,
)
async def change(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    endpoint_id = _id(request, "endpoint_id", "webhook")
    patch = await read_json(request, EndpointPatch)
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await update_endpoint(
                session,
                caller.merchant_id,
                endpoint_id,
                patch,
                allow_private=_allow_private(request),
            )
        except InvalidEndpointUrl as exc:
            raise _bad_url(exc) from None
    if out is None:
        raise ApiError.not_found("webhook")
    return web.json_response(out.model_dump(mode="json"))


@routes.delete(_ENDPOINT)
@operation("Delete a webhook endpoint and its delivery log", status=204, errors=_FORBIDDEN)
async def remove(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    endpoint_id = _id(request, "endpoint_id", "webhook")
    async with request.config_dict[SESSIONS]() as session:
        found = await delete_endpoint(session, caller.merchant_id, endpoint_id)
    if not found:
        raise ApiError.not_found("webhook")
    return web.Response(status=204)


@routes.get(_ENDPOINT + "/deliveries")
@operation(
    "List the deliveries of an endpoint",
    query=DeliveryQuery,
    response=Page[DeliveryOut],
    errors=_FORBIDDEN,
)
async def deliveries(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    endpoint_id = _id(request, "endpoint_id", "webhook")
    query = read_query(request, DeliveryQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_deliveries(
            session,
            caller.merchant_id,
            endpoint_id,
            limit=query.limit,
            before_id=query.cursor,
            state=query.state,
        )
    if items is None:
        raise ApiError.not_found("webhook")
    return web.json_response(page(items, query.limit))


@routes.get(_DELIVERY)
@operation(
    "Show a delivery with its payload and attempts",
    response=DeliveryDetail,
    errors=_FORBIDDEN,
)
async def delivery(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    endpoint_id = _id(request, "endpoint_id", "webhook")
    delivery_id = _id(request, "delivery_id", "delivery")
    async with request.config_dict[SESSIONS]() as session:
        out = await get_delivery(session, caller.merchant_id, endpoint_id, delivery_id)
    if out is None:
        raise ApiError.not_found("delivery")
    return web.json_response(out.model_dump(mode="json"))


@routes.post(_DELIVERY + "/redeliver")
@operation(
    "Send a delivery again now",
    response=DeliveryOut,
    status=202,
    errors=(ErrorCode.FORBIDDEN, ErrorCode.CONFLICT),
)
async def resend(request: web.Request) -> web.Response:
    caller = require(request, Scope.ADMIN)
    endpoint_id = _id(request, "endpoint_id", "webhook")
    delivery_id = _id(request, "delivery_id", "delivery")
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await redeliver(session, caller.merchant_id, endpoint_id, delivery_id)
        except EndpointDisabled as exc:
            raise ApiError(
                ErrorCode.CONFLICT,
                'the endpoint is disabled; enable it (PATCH {"enabled": true}) first',
                {"disabled_reason": str(exc)},
            ) from None
    if out is None:
        raise ApiError.not_found("delivery")
    try:  # at once; the periodic scan would find it within seconds anyway
        await request.config_dict[TASKS].enqueue("webhooks.deliver", delivery_id=delivery_id)
    except Exception:
        log.warning("webhook_redeliver_enqueue_failed", delivery_id=delivery_id, exc_info=True)
    return web.json_response(out.model_dump(mode="json"), status=202)
