"""Merchants, their API keys and storefronts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.storage.models.base import Base, Created, Json, PkId
from hub.storage.types import BigId

__all__ = ["ApiKey", "Merchant", "Storefront"]


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[PkId]
    name: Mapped[str]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_currency: Mapped[str] = mapped_column(String(3), default="USD")
    # Signs inbound webhooks (Standard Webhooks); encrypted with the settings' secret.
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[Created]


class ApiKey(Base):
    """An API key; only the SHA-256 of the secret is stored, the prefix helps find it."""

    __tablename__ = "api_keys"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[Json] = mapped_column(default=list)
    created_at: Mapped[Created]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Storefront(Base):
    """The merchant's one shop entry, and the origins tracked links may lead to."""

    __tablename__ = "storefronts"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    entry_url: Mapped[str] = mapped_column(String(2048))
    allowed_origins: Mapped[Json] = mapped_column(default=list)
    created_at: Mapped[Created]

    __table_args__ = (Index(None, "merchant_id", "name", unique=True),)
