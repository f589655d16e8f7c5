"""Helpers of the edge tests: a merchant with a product and a link, made through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub.storage.models import Click, LinkPreviewDay
from hub.web.keys import SESSIONS
from tests.conftest import MerchantFactory, bearer

Client = TestClient[Any, Any]

PRODUCT = {
    "title": 'Mug "Blue" <b>&</b>',
    "description": "350 ml <script>alert(1)</script>",
    "url": "https://shop.test/p/mug?color=blue",
    "price": "24.50",
    "currency": "usd",
    "image_url": "https://cdn.shop.test/mug.jpg",
}


@dataclass(frozen=True)
class Seeded:
    token: str
    merchant_id: int
    product_id: int
    code: str
    link: dict[str, Any]


async def seed(client: Client, new_merchant: MerchantFactory, **link: Any) -> Seeded:
    made = await new_merchant(client, "Shop", "https://shop.test/")
    headers = bearer(made.api_key.token)
    resp = await client.post("/api/v1/products", json=PRODUCT, headers=headers)
    assert resp.status == 201, await resp.text()
    product = await resp.json()
    body = {"product_id": product["id"], "channel_kind": "telegram", **link}
    resp = await client.post("/api/v1/links", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    return Seeded(made.api_key.token, made.merchant_id, product["id"], out["code"], out)


@pytest.fixture
def seeded_factory(new_merchant: MerchantFactory) -> Any:
    async def make(client: Client, **link: Any) -> Seeded:
        return await seed(client, new_merchant, **link)

    return make


async def count_clicks(client: Client, **where: Any) -> int:
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        query = select(func.count()).select_from(Click)
        for name, value in where.items():
            query = query.where(getattr(Click, name) == value)
        return int((await session.execute(query)).scalar_one())


async def clicks(client: Client) -> list[Click]:
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        return list(await session.scalars(select(Click).order_by(Click.at, Click.id)))


async def previews(client: Client) -> list[tuple[int, str, int]]:
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        rows = await session.execute(
            select(LinkPreviewDay.link_id, LinkPreviewDay.crawler, LinkPreviewDay.fetches)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]
