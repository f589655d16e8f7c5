"""``/hooks/v1/conversions`` and ``/hooks/v1/identify``: the storefront's own signed hooks.

Both are signed the Standard Webhooks way with the merchant's webhook secret and name the
merchant with ``?merchant=<id>`` (see ``_signed``).

- ``POST /conversions`` — an order (``attribution.conversions.orders.OrderIn``). 201
  ``{"conversion_id", "created": true, "status"}`` the first time; 200 with
  ``"created": false`` for every later delivery of the same order id, which can only refund
  or cancel it (or fill in its click, visitor or customer).
- ``POST /identify`` — ``{"customer_id", "click_id"?, "visitor_id"?}``: the click's visitor
  and/or the visitor belong to this customer. 200 ``{"customer_id", "linked_visitors",
  "reattributed"}``; 404 when the click id is not known yet (the edge may still be writing
  it — the sender's retry will find it).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from attribution.conversions import Order, OrderIn, record_order
from attribution.identity import ClickNotFound, identify
from hub.storage.types import utcnow
from hub.web.errors import ApiError, ErrorCode
from hub.web.hooks._signed import enqueue_attribution, parse_body, standard_signed
from hub.web.keys import SESSIONS

__all__ = ["IdentifyIn", "record", "routes"]

routes = web.RouteTableDef()

# Conversions re-attributed right away after an identify; the rest wait for the due-scan.
_ENQUEUE_AT_ONCE = 100


class IdentifyIn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    customer_id: str = Field(min_length=1, max_length=255)
    click_id: str | None = Field(default=None, min_length=1, max_length=64)
    visitor_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _names_one(self) -> IdentifyIn:
        if not (self.click_id or self.visitor_id):
            raise ValueError("give click_id or visitor_id")
        return self


async def record(request: web.Request, merchant_id: int, order: Order) -> web.Response:
    """Record a normalised order, commit, enqueue its attribution; the hook's answer."""
    async with request.config_dict[SESSIONS]() as session:
        recorded = await record_order(session, merchant_id, order, utcnow())
        await session.commit()
    if recorded.attribute:
        await enqueue_attribution(request, [recorded.conversion_id])
    return web.json_response(
        {
            "conversion_id": recorded.conversion_id,
            "created": recorded.created,
            "status": recorded.status,
        },
        status=201 if recorded.created else 200,
    )


@routes.post("/conversions")
async def conversions(request: web.Request) -> web.Response:
    merchant_id, body = await standard_signed(request)
    order = parse_body(body, OrderIn).to_order("api")
    return await record(request, merchant_id, order)


@routes.post("/identify")
async def identify_customer(request: web.Request) -> web.Response:
    merchant_id, body = await standard_signed(request)
    said = parse_body(body, IdentifyIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            done = await identify(
                session,
                merchant_id,
                said.customer_id,
                utcnow(),
                click_id=said.click_id,
                visitor_id=said.visitor_id,
            )
        except ClickNotFound:
            raise ApiError(
                ErrorCode.NOT_FOUND,
                "click id not known (yet); retry later",
                {"click_id": said.click_id},
            ) from None
        await session.commit()
    await enqueue_attribution(request, list(done.conversion_ids[:_ENQUEUE_AT_ONCE]))
    return web.json_response(
        {
            "customer_id": said.customer_id,
            "linked_visitors": len(done.linked_visitors),
            "reattributed": len(done.conversion_ids),
        }
    )
