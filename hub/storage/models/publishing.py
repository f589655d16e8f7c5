"""Where cards go: channel accounts, shares, and one target per account with its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.storage.models.base import Base, Created, Json, PkId
from hub.storage.types import BigId

__all__ = ["ChannelAccount", "Share", "ShareTarget", "ShareTargetEvent"]


class ChannelAccount(Base):
    """A place the merchant posts to: a Telegram chat, a WeCom robot, a Mastodon account..."""

    __tablename__ = "channel_accounts"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    # Non-secret configuration, returned by the API.
    settings: Mapped[Json] = mapped_column(default=dict)
    # Secret fields, Fernet-encrypted with the settings' secret; never returned or logged.
    credentials_encrypted: Mapped[str] = mapped_column(Text, default="")
    # active | needs_reauth | disabled
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Created]

    __table_args__ = (
        Index(None, "merchant_id", "kind", "name", unique=True),
        Index(None, "merchant_id", "status"),
    )


class Share(Base):
    """A merchant's request to post one product card to some channel accounts."""

    __tablename__ = "shares"

    id: Mapped[PkId]
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    # When to publish (UTC); `when` keeps what the merchant asked: an ISO time, now or best.
    scheduled_at: Mapped[datetime]
    when: Mapped[str] = mapped_column(String(64), default="now")
    expires_at: Mapped[datetime | None]
    # Optional text per channel kind or account id: {"telegram": "...", "12": "..."}.
    text_overrides: Mapped[Json] = mapped_column(default=dict)
    # draft | scheduled | cancelled | done
    state: Mapped[str] = mapped_column(String(20), default="scheduled")
    # The id an external system gave this share (idempotent inbound webhooks).
    source_event_id: Mapped[str | None] = mapped_column(String(255))
    # Recurring shares: the RFC 5545 RRULE (with COUNT or UNTIL) the series was made from;
    # every share of a series points to its first one.
    rrule: Mapped[str | None] = mapped_column(String(500))
    series_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("shares.id", ondelete="SET NULL"), index=True
    )
    # Evergreen: once published, the product is shared again this many days later.
    recycle_days: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[Created]

    targets: Mapped[list[ShareTarget]] = relationship(
        back_populates="share", order_by="ShareTarget.id", passive_deletes=True
    )

    __table_args__ = (
        Index(None, "merchant_id", "scheduled_at"),
        Index(None, "merchant_id", "source_event_id", unique=True),
        Index(None, "product_id"),
    )


class ShareTarget(Base):
    """One share on one channel account; published at most once."""

    __tablename__ = "share_targets"

    id: Mapped[PkId]
    share_id: Mapped[int] = mapped_column(BigId, ForeignKey("shares.id", ondelete="CASCADE"))
    merchant_id: Mapped[int] = mapped_column(BigId, ForeignKey("merchants.id", ondelete="CASCADE"))
    channel_account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="CASCADE")
    )
    # scheduled | deferred | publishing | published | retrying | unknown | failed |
    # cancelled | retracted
    state: Mapped[str] = mapped_column(String(20), default="scheduled")
    reason: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Sent as the channel's own idempotency key where it has one.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    remote_id: Mapped[str | None] = mapped_column(String(255))
    remote_url: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime | None]
    # When the due scan last sent this target to a worker (the scan's own de-duplication).
    enqueued_at: Mapped[datetime | None]
    created_at: Mapped[Created]

    share: Mapped[Share] = relationship(back_populates="targets")

    __table_args__ = (
        Index(None, "share_id", "channel_account_id", unique=True),
        Index(None, "idempotency_key", unique=True),
        # The due scan: targets in a waiting state whose time has come.
        Index(None, "state", "due_at"),
        # Policy: the account's recent posts.
        Index(None, "channel_account_id", "published_at"),
        Index(None, "merchant_id", "state"),
    )


class ShareTargetEvent(Base):
    """Every state change of a target, with its time and reason."""

    __tablename__ = "share_target_events"

    id: Mapped[PkId]
    target_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("share_targets.id", ondelete="CASCADE")
    )
    at: Mapped[Created]
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[Json] = mapped_column(default=dict)

    __table_args__ = (Index(None, "target_id", "at"),)
