"""What merchants share: products and campaigns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.storage.models.base import Base, Created, Json, PkId
from hub.storage.types import BigId

__all__ = ["Campaign", "Product"]


class Product(Base):
    __tablename__ = "products"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    # The storefront's own id or SKU; matches order line items to shared products.
    external_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    # Price in the currency's minor unit (cents, fen, yen...).
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    url: Mapped[str] = mapped_column(String(2048))
    tags: Mapped[Json] = mapped_column(default=list)
    created_at: Mapped[Created]
    updated_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "merchant_id", "external_id", unique=True),
        Index(None, "merchant_id", "created_at"),
        # The product import finds a merchant's products by URL (not unique: the API may
        # store two products with one URL).
        Index(None, "merchant_id", "url"),
    )


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # Reusable UTM parameter set: {"utm_campaign": "...", "utm_term": "..."}.
    utm_template: Mapped[Json] = mapped_column(default=dict)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    created_at: Mapped[Created]

    __table_args__ = (Index(None, "merchant_id", "name", unique=True),)
