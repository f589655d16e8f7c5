"""What comes back: tracked links, clicks, previews, visitors and customers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.storage.models.base import Base, Created, PkId
from hub.storage.types import BigId

__all__ = [
    "BUCKET_S",
    "Click",
    "ClickBucket",
    "ClickDay",
    "Customer",
    "Link",
    "LinkPreviewDay",
    "Visitor",
]

# The width of a click bucket. Every UTC offset in use is a multiple of 15 minutes, so local
# days (and their daylight-saving changes) begin and end on bucket boundaries.
BUCKET_S = 900


class Link(Base):
    """A short code that leads to the storefront entry with UTM and click-id parameters."""

    __tablename__ = "links"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    destination_url: Mapped[str] = mapped_column(String(4096))
    product_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    channel_account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="SET NULL")
    )
    share_target_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("share_targets.id", ondelete="SET NULL")
    )
    # The channel kind the link was made for (utm_source), kept for reports.
    channel_kind: Mapped[str | None] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[Created]

    __table_args__ = (
        Index(None, "merchant_id", "created_at"),
        Index(None, "share_target_id"),
    )


class Click(Base):
    """One visit through a tracked link (people and bots; previews are counted apart)."""

    __tablename__ = "clicks"

    id: Mapped[PkId]
    click_id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[int] = mapped_column(BigId)
    link_id: Mapped[int] = mapped_column(BigId, ForeignKey("links.id", ondelete="CASCADE"))
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    is_unique: Mapped[bool] = mapped_column(Boolean, default=True)
    # Truncated or salted-hashed, as configured; never the raw address.
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    referrer: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(None, "merchant_id", "at"),
        Index(None, "link_id", "at"),
        Index(None, "visitor_id", "at"),
    )


class ClickBucket(Base):
    """People's clicks (bots excluded) per merchant, link and 15-minute UTC bucket.

    Kept equal to ``clicks`` by triggers on that table (migration 0006): every insert,
    delete and update of a click adds to or takes from its bucket in the same transaction,
    whoever writes it. ``unique_clicks`` sums the drain's ``is_unique`` flag, which is already
    decided per click, so buckets add up to any period exactly.
    """

    __tablename__ = "click_buckets"

    merchant_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bucket_at: Mapped[datetime] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    clicks: Mapped[int] = mapped_column(BigInteger)
    unique_clicks: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "link_id"),)


class ClickDay(Base):
    """People's clicks per merchant, link and local day in the merchant's time zone.

    Kept by the same triggers as ``click_buckets``, and rebuilt for a merchant whose time zone
    changes; PostgreSQL only (SQLite has no time-zone database; there reports read the
    buckets). ``timezone`` names the zone the days are in.
    """

    __tablename__ = "click_days"

    merchant_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    link_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    clicks: Mapped[int] = mapped_column(BigInteger)
    unique_clicks: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "link_id"),)


class ClickWeek(Base):
    """``click_days`` summed per local week: ``day`` is the week's Monday (migration 0009).

    Kept by the triggers on ``clicks`` right after the days, and rebuilt with them when a
    merchant's zone changes; PostgreSQL only. Reports read whole weeks of a period from here
    and the days around them from ``click_days``: a quarter is 13 rows a link, not 90. The
    key carries no counts (migration 0012): updates of the counts are heap-only.
    """

    __tablename__ = "click_weeks"

    merchant_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    link_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    clicks: Mapped[int] = mapped_column(BigInteger)
    unique_clicks: Mapped[int] = mapped_column(BigInteger)


class LinkPreviewDay(Base):
    """Link-preview fetches by crawlers, per link and day: reach, not visits."""

    __tablename__ = "link_preview_days"

    id: Mapped[PkId]
    link_id: Mapped[int] = mapped_column(BigId, ForeignKey("links.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    crawler: Mapped[str] = mapped_column(String(64))
    fetches: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index(None, "link_id", "day", "crawler", unique=True),)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    # The storefront's customer id.
    external_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[Created]

    __table_args__ = (Index(None, "merchant_id", "external_id", unique=True),)


class Visitor(Base):
    """A first-party visitor cookie, linked to a customer once the storefront says so."""

    __tablename__ = "visitors"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    first_seen_at: Mapped[Created]

    __table_args__ = (
        Index(None, "merchant_id", "visitor_id", unique=True),
        Index(None, "customer_id"),
    )
