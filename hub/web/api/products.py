"""``/api/v1/products``: the merchant's product cards."""

from __future__ import annotations

from aiohttp import web

from hub.catalog.products import (
    DuplicateProduct,
    ProductIn,
    ProductOut,
    ProductOutsideStorefront,
    create_product,
    get_product,
    list_products,
)
from hub.web.api.paging import Page, PageQuery, page
from hub.web.bodies import path_id, read_json, read_query
from hub.web.errors import ApiError, ErrorCode
from hub.web.keys import SESSIONS
from hub.web.middleware import principal
from hub.web.openapi import operation

__all__ = ["routes"]

routes = web.RouteTableDef()


def _id(request: web.Request, name: str) -> int:
    return path_id(request, name, name.removesuffix("_id"))


@routes.post("/products")
@operation(
    "Create a product card",
    body=ProductIn,
    response=ProductOut,
    status=201,
    errors=(ErrorCode.CONFLICT,),
)
async def create(request: web.Request) -> web.Response:
    body = await read_json(request, ProductIn)
    async with request.config_dict[SESSIONS]() as session:
        try:
            out = await create_product(session, principal(request).merchant_id, body)
        except ProductOutsideStorefront as exc:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "request is invalid",
                {"fields": [{"field": "url", "message": str(exc), "type": "storefront_origin"}]},
            ) from None
        except DuplicateProduct as exc:
            raise ApiError(ErrorCode.CONFLICT, str(exc)) from None
        except ValueError as exc:
            raise ApiError(ErrorCode.VALIDATION_FAILED, str(exc)) from None
    return web.json_response(out.model_dump(mode="json"), status=201)


@routes.get("/products")
@operation("List product cards", query=PageQuery, response=Page[ProductOut])
async def index(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    async with request.config_dict[SESSIONS]() as session:
        items = await list_products(
            session, principal(request).merchant_id, limit=query.limit, before_id=query.cursor
        )
    return web.json_response(page(items, query.limit))


@routes.get("/products/{product_id}")
@operation("Read a product card", response=ProductOut)
async def show(request: web.Request) -> web.Response:
    product_id = _id(request, "product_id")
    async with request.config_dict[SESSIONS]() as session:
        out = await get_product(session, principal(request).merchant_id, product_id)
    if out is None:
        raise ApiError.not_found("product")
    return web.json_response(out.model_dump(mode="json"))
