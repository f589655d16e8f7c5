"""A demo merchant with a storefront and product cards, for trying the hub."""

from __future__ import annotations

from decimal import Decimal

from hub.catalog.products import ProductIn, create_product
from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.tenancy import create_merchant

__all__ = ["seed"]

STOREFRONT = "https://shop.example.com/"

PRODUCTS = [
    ProductIn.model_validate(p)
    for p in (
        {
            "title": "Hand-thrown stoneware mug",
            "description": "350 ml, dishwasher safe, glazed in small batches.",
            "url": "https://shop.example.com/p/stoneware-mug",
            "price": Decimal("24.00"),
            "currency": "USD",
            "image_url": "https://shop.example.com/img/mug.jpg",
            "external_id": "SKU-MUG-1",
            "tags": ["kitchen", "handmade"],
        },
        {
            "title": "龙井绿茶 Longjing green tea, 100 g",
            "description": "Spring harvest from Hangzhou. 明前茶。",
            "url": "https://shop.example.com/p/longjing",
            "price": Decimal("168"),
            "currency": "CNY",
            "image_url": "https://shop.example.com/img/tea.jpg",
            "external_id": "SKU-TEA-100",
            "tags": ["tea"],
        },
        {
            "title": "Linen tea towel <set of 2> & a gift card",
            "description": "Markup characters in titles stay text: *bold* _under_ `code`.",
            "url": "https://shop.example.com/p/linen-towel",
            "price": Decimal("1900"),
            "currency": "JPY",
            "external_id": "SKU-TOWEL-2",
            "tags": ["kitchen"],
        },
    )
]


async def seed(sessions: SessionFactory, vault: Vault) -> list[str]:
    """Create the demo merchant and its products; returns lines to show the user."""
    async with sessions() as session:
        made = await create_merchant(
            session, vault, name="Demo shop", storefront_url=STOREFRONT, timezone="Asia/Shanghai"
        )
        await session.commit()
        ids = [(await create_product(session, made.merchant_id, p)).id for p in PRODUCTS]
    return [
        f"demo merchant {made.merchant_id} with products {', '.join(map(str, ids))}",
        f"api key (shown once): {made.api_key.token}",
        f"webhook signing secret: {made.webhook_secret}",
    ]
