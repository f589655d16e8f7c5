"""Tracked links of a merchant: create (per share target or by the API), read, list, change.

Every call is scoped by ``merchant_id``; rows of another merchant are "not found". Functions
that write add and flush; the caller commits (so a share and its links commit together).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import LinkSettings
from hub.links.codes import new_code, validate_slug
from hub.links.destination import Utm, build_destination
from hub.storage.models import Campaign, ChannelAccount, Link, Product, ShareTarget, Storefront

__all__ = [
    "LinkConflict",
    "LinkOut",
    "LinkPatch",
    "NotFound",
    "create_link",
    "get_link",
    "list_links",
    "merchant_origins",
    "update_link",
]

_CODE_ATTEMPTS = 5


def merchant_origins(lists: Iterable[object]) -> list[str]:
    """The union of the storefronts' ``allowed_origins`` (JSON lists of origin strings)."""
    out: set[str] = set()
    for origins in lists:
        if isinstance(origins, list):
            out.update(str(o) for o in origins)
    return sorted(out)


class LinkConflict(ValueError):
    """The slug is taken."""


class NotFound(LookupError):
    """A referenced row does not exist for this merchant; ``what`` names it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class LinkOut(BaseModel):
    id: int
    code: str
    short_url_path: str
    destination_url: str
    product_id: int | None
    campaign_id: int | None
    channel_account_id: int | None
    channel_kind: str | None
    share_target_id: int | None
    enabled: bool
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Link) -> LinkOut:
        return cls(
            id=row.id,
            code=row.code,
            short_url_path=f"/{row.code}",
            destination_url=row.destination_url,
            product_id=row.product_id,
            campaign_id=row.campaign_id,
            channel_account_id=row.channel_account_id,
            channel_kind=row.channel_kind,
            share_target_id=row.share_target_id,
            enabled=row.enabled,
            expires_at=row.expires_at,
            created_at=row.created_at,
        )


class LinkPatch(BaseModel):
    """``PATCH /api/v1/links/{code}``: enable, disable, set or clear the expiry."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    expires_at: datetime | None = Field(default=None)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a time with a zone offset, e.g. 2030-01-01T00:00:00Z")
        return value


_Owned = TypeVar("_Owned", Product, Campaign, ChannelAccount, ShareTarget)


async def _owned(
    session: AsyncSession, model: type[_Owned], merchant_id: int, row_id: int | None, what: str
) -> _Owned | None:
    if row_id is None:
        return None
    row = await session.scalar(
        select(model).where(model.id == row_id, model.merchant_id == merchant_id)
    )
    if row is None:
        raise NotFound(what)
    return row


async def create_link(
    session: AsyncSession,
    merchant_id: int,
    *,
    product_id: int | None,
    channel_account_id: int | None = None,
    channel_kind: str | None = None,
    campaign_id: int | None = None,
    share_target_id: int | None = None,
    slug: str | None = None,
    expires_at: datetime | None = None,
    destination_url: str | None = None,
    settings: LinkSettings,
) -> LinkOut:
    """A new tracked link; adds and flushes, the caller commits.

    Raises :class:`NotFound` (a product, campaign, channel account or share target of another
    merchant or none), :class:`hub.links.InvalidSlug`, :class:`LinkConflict` (slug taken) and
    :class:`hub.links.OutsideStorefront` (a destination off the storefront origins).
    """
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("expires_at: expected an aware datetime (UTC)")
    if slug is not None:
        validate_slug(slug)
    product = await _owned(session, Product, merchant_id, product_id, "product")
    campaign = await _owned(session, Campaign, merchant_id, campaign_id, "campaign")
    account = await _owned(
        session, ChannelAccount, merchant_id, channel_account_id, "channel account"
    )
    await _owned(session, ShareTarget, merchant_id, share_target_id, "share target")
    kind = channel_kind or (account.kind if account is not None else None)
    storefronts = list(
        await session.scalars(
            select(Storefront).where(Storefront.merchant_id == merchant_id).order_by(Storefront.id)
        )
    )
    if not storefronts:
        raise NotFound("storefront")
    storefront = storefronts[0]
    origins = merchant_origins(s.allowed_origins for s in storefronts)
    destination = build_destination(
        origins=origins,
        entry_url=storefront.entry_url,
        product_url=product.url if product is not None else None,
        explicit_url=destination_url,
        utm=Utm(
            source=kind,
            content=str(share_target_id) if share_target_id is not None else None,
            campaign_name=campaign.name if campaign is not None else None,
            template=dict(campaign.utm_template or {}) if campaign is not None else None,
        ),
        medium=settings.utm_medium,
        click_id_param=settings.click_id_param,
    )
    code = slug if slug is not None else await _free_code(session, settings.code_length)
    if slug is not None and await session.scalar(select(Link.id).where(Link.code == slug)):
        raise LinkConflict(f"slug {slug!r} is taken")
    link = Link(
        merchant_id=merchant_id,
        code=code,
        destination_url=destination,
        product_id=product_id,
        campaign_id=campaign_id,
        channel_account_id=channel_account_id,
        share_target_id=share_target_id,
        channel_kind=kind,
        enabled=True,
        expires_at=expires_at,
    )
    session.add(link)
    try:
        await session.flush()
    except IntegrityError:
        raise LinkConflict(f"code {code!r} is taken") from None
    return LinkOut.of(link)


async def _free_code(session: AsyncSession, length: int) -> str:
    for _ in range(_CODE_ATTEMPTS):
        code = new_code(length)
        if await session.scalar(select(Link.id).where(Link.code == code)) is None:
            return code
    raise LinkConflict("no free code found; raise links.code_length")


async def get_link(session: AsyncSession, merchant_id: int, code: str) -> LinkOut | None:
    row = await session.scalar(
        select(Link).where(Link.code == code, Link.merchant_id == merchant_id)
    )
    return LinkOut.of(row) if row is not None else None


async def list_links(
    session: AsyncSession,
    merchant_id: int,
    *,
    limit: int,
    before_id: int | None = None,
    product_id: int | None = None,
    share_target_id: int | None = None,
) -> list[LinkOut]:
    query = select(Link).where(Link.merchant_id == merchant_id)
    if before_id is not None:
        query = query.where(Link.id < before_id)
    if product_id is not None:
        query = query.where(Link.product_id == product_id)
    if share_target_id is not None:
        query = query.where(Link.share_target_id == share_target_id)
    rows = await session.scalars(query.order_by(Link.id.desc()).limit(limit))
    return [LinkOut.of(r) for r in rows]


async def update_link(
    session: AsyncSession, merchant_id: int, code: str, patch: LinkPatch
) -> LinkOut | None:
    """Applies the fields that were sent; flushes; None when there is no such link."""
    row = await session.scalar(
        select(Link).where(Link.code == code, Link.merchant_id == merchant_id)
    )
    if row is None:
        return None
    sent = patch.model_fields_set
    if "enabled" in sent and patch.enabled is not None:
        row.enabled = patch.enabled
    if "expires_at" in sent:
        row.expires_at = patch.expires_at.astimezone(UTC) if patch.expires_at else None
    await session.flush()
    return LinkOut.of(row)
