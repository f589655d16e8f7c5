"""Campaigns: a name and a reusable UTM template, set once and applied to every link in them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.links.destination import UTM_KEY_PATTERN, utm_template
from hub.storage.models import Campaign

__all__ = [
    "CampaignIn",
    "CampaignOut",
    "DuplicateCampaign",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
]


UtmKey = Annotated[str, Field(pattern=UTM_KEY_PATTERN)]
# Not blank: whitespace around the value is stripped, and something must be left.
UtmValue = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]


class DuplicateCampaign(ValueError):
    """The merchant has a campaign of this name."""


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    # Keys utm_<name>, values 1-200 characters, not blank: patternProperties and no others.
    utm_template: dict[UtmKey, UtmValue] = Field(
        default_factory=dict, max_length=20, json_schema_extra={"additionalProperties": False}
    )
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @field_validator("utm_template")
    @classmethod
    def _template(cls, value: dict[str, str]) -> dict[str, str]:
        return utm_template(value)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a time with a zone offset, e.g. 2030-01-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _order(self) -> CampaignIn:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at: must be after starts_at")
        return self


class CampaignOut(BaseModel):
    id: int
    name: str
    utm_template: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Campaign) -> CampaignOut:
        return cls(
            id=row.id,
            name=row.name,
            utm_template=dict(row.utm_template or {}),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            created_at=row.created_at,
        )


async def create_campaign(session: AsyncSession, merchant_id: int, data: CampaignIn) -> CampaignOut:
    """Adds and flushes; :class:`DuplicateCampaign` when the name is taken."""
    taken = await session.scalar(
        select(Campaign.id).where(Campaign.merchant_id == merchant_id, Campaign.name == data.name)
    )
    if taken is not None:
        raise DuplicateCampaign(f"a campaign named {data.name!r} exists")
    row = Campaign(
        merchant_id=merchant_id,
        name=data.name,
        utm_template=data.utm_template,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise DuplicateCampaign(f"a campaign named {data.name!r} exists") from None
    return CampaignOut.of(row)


async def get_campaign(
    session: AsyncSession, merchant_id: int, campaign_id: int
) -> CampaignOut | None:
    row = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.merchant_id == merchant_id)
    )
    return CampaignOut.of(row) if row is not None else None


async def list_campaigns(
    session: AsyncSession, merchant_id: int, *, limit: int, before_id: int | None
) -> list[CampaignOut]:
    query = select(Campaign).where(Campaign.merchant_id == merchant_id)
    if before_id is not None:
        query = query.where(Campaign.id < before_id)
    rows = await session.scalars(query.order_by(Campaign.id.desc()).limit(limit))
    return [CampaignOut.of(r) for r in rows]
