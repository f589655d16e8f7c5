"""What was earned: conversions and the credits each model gives their touchpoints."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.storage.models.base import Base, Created, Json, PkId
from hub.storage.types import BigId

__all__ = [
    "CREDIT_REPORT_COLUMNS",
    "ROLLUP_MODELS",
    "AttributionCredit",
    "Conversion",
    "CreditDay",
    "CreditLinkDay",
    "CreditProductDay",
    "PlatformSecret",
]

# What reports read of a credit besides its merchant, model and time.
CREDIT_REPORT_COLUMNS = (
    "conversion_id",
    "link_id",
    "channel_account_id",
    "channel_kind",
    "campaign_id",
    "product_id",
    "currency",
    "weight",
    "revenue_minor",
)


class Conversion(Base):
    """An order reported by the storefront; one per merchant and order id."""

    __tablename__ = "conversions"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(255))
    # Amounts in the currency's minor unit; refunds lower the credited revenue.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime]
    click_id: Mapped[str | None] = mapped_column(String(64))
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    # placed | refunded | cancelled
    status: Mapped[str] = mapped_column(String(20), default="placed")
    line_items: Mapped[Json] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(40), default="api")
    created_at: Mapped[Created]
    attributed_at: Mapped[datetime | None]
    # When the conversion is due to be attributed (again): set on arrival, on late identity
    # links and refunds; cleared once attributed. A periodic scan picks up due ones.
    attribute_due_at: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "merchant_id", "order_id", unique=True),
        Index(None, "attribute_due_at"),
        Index(None, "merchant_id", "occurred_at"),
        Index(None, "customer_id"),
        Index(None, "click_id"),
        Index(None, "visitor_id"),
    )


class AttributionCredit(Base):
    """The share of one conversion a model gives one touchpoint (a click)."""

    __tablename__ = "attribution_credits"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId)
    conversion_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversions.id", ondelete="CASCADE")
    )
    model: Mapped[str] = mapped_column(String(40))
    click_id: Mapped[str] = mapped_column(String(64))
    link_id: Mapped[int | None] = mapped_column(BigId)
    channel_account_id: Mapped[int | None] = mapped_column(BigId)
    channel_kind: Mapped[str | None] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    product_id: Mapped[int | None] = mapped_column(BigId)
    # The conversion's currency, copied by triggers (migration 0006) so that reports sum
    # credits without reading conversions.
    currency: Mapped[str | None] = mapped_column(String(3))
    weight: Mapped[float] = mapped_column(Float)
    revenue_minor: Mapped[float] = mapped_column(Float)
    # The conversion's time, copied for reports by period.
    occurred_at: Mapped[datetime]

    __table_args__ = (
        # One row per product sold (line items split the value); product_id is NULL for the
        # part of the order that names no known product.
        Index(None, "conversion_id", "model", "click_id", "product_id", unique=True),
        # Covering on PostgreSQL: reports sum credits from the index alone.
        Index(
            None,
            "merchant_id",
            "model",
            "occurred_at",
            postgresql_include=[*CREDIT_REPORT_COLUMNS],
        ),
    )


# The attribution models whose credits the rollups sum, each in columns of its own
# (``attribution.models.MODELS``; a model added there adds its columns here and in a
# migration).
ROLLUP_MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)


class _CreditSums:
    """A merchant's credits on one local day (in the zone ``timezone``) and currency, under
    one key of a dimension: how many (``credits``, every model's) and, for each model of
    :data:`ROLLUP_MODELS`, ``<model>_credits`` and the sums of their ``weight`` and
    ``revenue_minor``. In a weekly table, ``day`` is the Monday of a local week and the row
    sums the week's days.

    Kept equal to the credits they cover by triggers (migrations 0007 to 0010) and rebuilt for
    a merchant whose time zone changes; PostgreSQL only, like ``click_days`` (on SQLite
    reports sum the credits). A key the credit leaves empty is stored as ``''`` or ``0``. The
    primary key leads with merchant, zone and day: reports read a range of days.
    """

    merchant_id: Mapped[int] = mapped_column(BigId)
    timezone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    credits: Mapped[int] = mapped_column(BigInteger)
    first_touch_credits: Mapped[int] = mapped_column(BigInteger)
    first_touch_weight: Mapped[float] = mapped_column(Float)
    first_touch_revenue_minor: Mapped[float] = mapped_column(Float)
    last_touch_credits: Mapped[int] = mapped_column(BigInteger)
    last_touch_weight: Mapped[float] = mapped_column(Float)
    last_touch_revenue_minor: Mapped[float] = mapped_column(Float)
    linear_credits: Mapped[int] = mapped_column(BigInteger)
    linear_weight: Mapped[float] = mapped_column(Float)
    linear_revenue_minor: Mapped[float] = mapped_column(Float)
    time_decay_credits: Mapped[int] = mapped_column(BigInteger)
    time_decay_weight: Mapped[float] = mapped_column(Float)
    time_decay_revenue_minor: Mapped[float] = mapped_column(Float)
    position_based_credits: Mapped[int] = mapped_column(BigInteger)
    position_based_weight: Mapped[float] = mapped_column(Float)
    position_based_revenue_minor: Mapped[float] = mapped_column(Float)
    markov_credits: Mapped[int] = mapped_column(BigInteger)
    markov_weight: Mapped[float] = mapped_column(Float)
    markov_revenue_minor: Mapped[float] = mapped_column(Float)
    shapley_credits: Mapped[int] = mapped_column(BigInteger)
    shapley_weight: Mapped[float] = mapped_column(Float)
    shapley_revenue_minor: Mapped[float] = mapped_column(Float)


_DAY_KEY = ("merchant_id", "timezone", "day")


def _key(*columns: str) -> tuple[PrimaryKeyConstraint]:
    """A rollup's primary key: merchant, zone and day, then ``columns``. It carries no
    figure: an update of a row's figures is then heap-only (no new index entry)."""
    return (PrimaryKeyConstraint(*_DAY_KEY, *columns),)


class _ByChannel:
    """The key of credits by channel kind, channel account and campaign."""

    channel_kind: Mapped[str] = mapped_column(String(40))
    channel_account_id: Mapped[int] = mapped_column(BigId)
    campaign_id: Mapped[int] = mapped_column(BigId)


_CHANNEL_KEY = ("channel_kind", "channel_account_id", "campaign_id", "currency")


class CreditDay(_ByChannel, _CreditSums, Base):
    """Credits per local day, channel kind, channel account and campaign (see _CreditSums)."""

    __tablename__ = "credit_days"
    __table_args__ = _key(*_CHANNEL_KEY)


class CreditProductDay(_CreditSums, Base):
    """Credits per local day and product sold (see _CreditSums)."""

    __tablename__ = "credit_product_days"
    __table_args__ = _key("product_id", "currency")

    product_id: Mapped[int] = mapped_column(BigId)


class CreditLinkDay(_CreditSums, Base):
    """Credits per local day and link (see _CreditSums)."""

    __tablename__ = "credit_link_days"
    __table_args__ = _key("link_id", "currency")

    link_id: Mapped[int] = mapped_column(BigId)


# Weekly rollups (migration 0009): the day rollups summed per local week, ``day`` being the
# week's Monday; kept by the same triggers on credits as the days, right after them.


class CreditWeek(_ByChannel, _CreditSums, Base):
    """``credit_days`` per local week."""

    __tablename__ = "credit_weeks"
    __table_args__ = _key(*_CHANNEL_KEY)


class CreditProductWeek(_CreditSums, Base):
    """``credit_product_days`` per local week."""

    __tablename__ = "credit_product_weeks"
    __table_args__ = _key("product_id", "currency")

    product_id: Mapped[int] = mapped_column(BigId)


class CreditLinkWeek(_CreditSums, Base):
    """``credit_link_days`` per local week."""

    __tablename__ = "credit_link_weeks"
    __table_args__ = _key("link_id", "currency")

    link_id: Mapped[int] = mapped_column(BigId)


class PlatformSecret(Base):
    """A storefront platform's webhook signing secret for one merchant (Shopify, WooCommerce)."""

    __tablename__ = "platform_secrets"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    # shopify | woocommerce
    platform: Mapped[str] = mapped_column(String(40))
    # Encrypted with the Vault; never logged or returned.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[Created]

    __table_args__ = (Index(None, "merchant_id", "platform", unique=True),)
