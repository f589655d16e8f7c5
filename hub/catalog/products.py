"""Products of a merchant: create, read, list (every call scoped by ``merchant_id``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.money import from_minor, is_currency, to_minor
from hub.storage.models import Product, Storefront
from hub.urls import is_within

__all__ = [
    "DuplicateProduct",
    "ProductIn",
    "ProductOut",
    "ProductOutsideStorefront",
    "create_product",
    "get_product",
    "list_products",
]

Tag = Annotated[str, Field(min_length=1, max_length=64)]


class ProductOutsideStorefront(ValueError):
    """The product URL is not on one of the merchant's storefront origins."""


class DuplicateProduct(ValueError):
    """Another product of the merchant has this external id."""


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=10_000)
    url: AnyHttpUrl
    price: Decimal | None = Field(default=None, ge=0, max_digits=15, decimal_places=4)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    image_url: AnyHttpUrl | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    tags: list[Tag] = Field(default_factory=list, max_length=30)

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not is_currency(value):
            raise ValueError(f"unknown ISO 4217 currency code {value!r}")
        return value


class ProductOut(BaseModel):
    id: int
    external_id: str | None
    title: str
    description: str
    url: str
    price: str | None
    currency: str | None
    image_url: str | None
    tags: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: Product) -> ProductOut:
        price = None
        if row.price_minor is not None and row.currency:
            price = str(from_minor(row.price_minor, row.currency))
        return cls(
            id=row.id,
            external_id=row.external_id,
            title=row.title,
            description=row.description,
            url=row.url,
            price=price,
            currency=row.currency,
            image_url=row.image_url,
            tags=list(row.tags or []),
            created_at=row.created_at,
        )


async def _origins(session: AsyncSession, merchant_id: int) -> list[str]:
    rows = await session.scalars(
        select(Storefront.allowed_origins).where(Storefront.merchant_id == merchant_id)
    )
    return [origin for origins in rows for origin in origins]


async def create_product(session: AsyncSession, merchant_id: int, data: ProductIn) -> ProductOut:
    url = str(data.url)
    if not is_within(url, await _origins(session, merchant_id)):
        raise ProductOutsideStorefront(
            f"url {url} is not on one of the merchant's storefront origins"
        )
    if data.price is not None and data.currency is None:
        raise ValueError("currency: required when a price is given")
    price_minor = None
    if data.price is not None and data.currency is not None:
        price_minor = to_minor(data.price, data.currency)
    product = Product(
        merchant_id=merchant_id,
        external_id=data.external_id,
        title=data.title,
        description=data.description,
        url=url,
        price_minor=price_minor,
        currency=data.currency,
        image_url=str(data.image_url) if data.image_url else None,
        tags=data.tags,
    )
    session.add(product)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise DuplicateProduct(f"a product with external_id {data.external_id!r} exists") from None
    return ProductOut.of(product)


async def get_product(
    session: AsyncSession, merchant_id: int, product_id: int
) -> ProductOut | None:
    row = await session.scalar(
        select(Product).where(Product.id == product_id, Product.merchant_id == merchant_id)
    )
    return ProductOut.of(row) if row is not None else None


async def list_products(
    session: AsyncSession, merchant_id: int, *, limit: int, before_id: int | None
) -> list[ProductOut]:
    query = select(Product).where(Product.merchant_id == merchant_id)
    if before_id is not None:
        query = query.where(Product.id < before_id)
    rows = await session.scalars(query.order_by(Product.id.desc()).limit(limit))
    return [ProductOut.of(r) for r in rows]
