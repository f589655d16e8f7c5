"""Who clicked: click id → visitor → customer.

The edge gives every person a visitor id (a first-party cookie) and every click a click id.
The storefront knows its customers. When it says that a click or a visitor belongs to a
customer (``/hooks/v1/identify``, or an order that names both), the visitor is linked to the
customer, and from then on the clicks of all the customer's visitors — on several channels,
devices and in-app browsers — form one journey.

A conversion's journey is found through its *identity*: the customer it names, or else the
customer its visitor (or its click's visitor) is linked to, or else that visitor, or else the
click alone. Linking a visitor later changes the journeys of the conversions that identity
reaches, so :func:`identify` returns them, flagged for attribution again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions._sql import insert_for
from hub.storage.models import Click, Conversion, Customer, Visitor

__all__ = [
    "ClickNotFound",
    "Identified",
    "affected_conversions",
    "click_visitor",
    "flag_due",
    "identify",
    "link_visitor",
    "upsert_customer",
]


class ClickNotFound(LookupError):
    """The click id is not (yet) in the database: the edge may not have written it."""


@dataclass(frozen=True, slots=True)
class Identified:
    customer_id: int
    # Visitors whose customer changed with this call.
    linked_visitors: tuple[str, ...]
    # Conversions to attribute again (already flagged due).
    conversion_ids: tuple[int, ...]


async def upsert_customer(
    session: AsyncSession, merchant_id: int, external_id: str, now: datetime
) -> int:
    """The id of the merchant's customer ``external_id``, created when new (race-safe)."""
    await session.execute(
        insert_for(session, Customer)
        .values(merchant_id=merchant_id, external_id=external_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["merchant_id", "external_id"])
    )
    customer_id = await session.scalar(
        select(Customer.id).where(
            Customer.merchant_id == merchant_id, Customer.external_id == external_id
        )
    )
    assert customer_id is not None
    return customer_id


async def link_visitor(
    session: AsyncSession,
    merchant_id: int,
    visitor_id: str,
    customer_id: int,
    now: datetime,
    *,
    overwrite: bool,
) -> bool:
    """Link a visitor to a customer; True when that changed anything.

    ``overwrite=False`` only fills a visitor that has no customer yet (what an order implies);
    ``overwrite=True`` moves it (what an explicit identify says).
    """
    stmt = insert_for(session, Visitor).values(
        merchant_id=merchant_id,
        visitor_id=visitor_id,
        customer_id=customer_id,
        first_seen_at=now,
    )
    guard = (
        Visitor.customer_id.is_distinct_from(stmt.excluded.customer_id)
        if overwrite
        else Visitor.customer_id.is_(None)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["merchant_id", "visitor_id"],
        set_={"customer_id": stmt.excluded.customer_id},
        where=guard,
    ).returning(Visitor.id)
    return (await session.execute(stmt)).first() is not None


async def click_visitor(session: AsyncSession, merchant_id: int, click_id: str) -> str | None:
    """The visitor of a click; raises :class:`ClickNotFound` when the click is unknown."""
    row = (
        await session.execute(
            select(Click.visitor_id).where(
                Click.click_id == click_id, Click.merchant_id == merchant_id
            )
        )
    ).first()
    if row is None:
        raise ClickNotFound(click_id)
    visitor: str | None = row[0]
    return visitor


async def affected_conversions(
    session: AsyncSession,
    merchant_id: int,
    customer_ids: Collection[int],
    visitors: Collection[str],
) -> list[int]:
    """Conversions whose journey runs through these customers or these visitors."""
    reach: list[ColumnElement[bool]] = []
    visitor_set = set(visitors)
    if customer_ids:
        reach.append(Conversion.customer_id.in_(list(customer_ids)))
        visitor_set.update(
            (
                await session.scalars(
                    select(Visitor.visitor_id).where(
                        Visitor.merchant_id == merchant_id,
                        Visitor.customer_id.in_(list(customer_ids)),
                    )
                )
            ).all()
        )
    if visitor_set:
        reach.append(Conversion.visitor_id.in_(visitor_set))
        reach.append(
            Conversion.click_id.in_(
                select(Click.click_id).where(
                    Click.merchant_id == merchant_id, Click.visitor_id.in_(visitor_set)
                )
            )
        )
    if not reach:
        return []
    ids = await session.scalars(
        select(Conversion.id).where(
            Conversion.merchant_id == merchant_id,
            Conversion.status != "cancelled",
            or_(*reach),
        )
    )
    return sorted(ids.all())


async def flag_due(session: AsyncSession, conversion_ids: Collection[int], at: datetime) -> None:
    """Mark conversions to be attributed (again) at ``at``; the caller commits and enqueues."""
    if conversion_ids:
        await session.execute(
            update(Conversion)
            .where(Conversion.id.in_(list(conversion_ids)))
            .values(attribute_due_at=at)
        )


async def identify(
    session: AsyncSession,
    merchant_id: int,
    customer_ref: str,
    now: datetime,
    *,
    click_id: str | None = None,
    visitor_id: str | None = None,
) -> Identified:
    """Link the click's visitor and/or the visitor to the customer; the caller commits.

    Raises :class:`ClickNotFound` for an unknown click id (the caller answers so that the
    storefront retries later). A click without a visitor links nothing by itself.
    """
    customer_id = await upsert_customer(session, merchant_id, customer_ref, now)
    visitors: list[str] = []
    if click_id is not None:
        clicked_by = await click_visitor(session, merchant_id, click_id)
        if clicked_by is not None:
            visitors.append(clicked_by)
    if visitor_id is not None and visitor_id not in visitors:
        visitors.append(visitor_id)
    previous = set()
    if visitors:
        previous = {
            c
            for c in (
                await session.scalars(
                    select(Visitor.customer_id).where(
                        Visitor.merchant_id == merchant_id, Visitor.visitor_id.in_(visitors)
                    )
                )
            ).all()
            if c is not None
        }
    linked = [
        v
        for v in visitors
        if await link_visitor(session, merchant_id, v, customer_id, now, overwrite=True)
    ]
    affected: list[int] = []
    if linked:
        # The new customer's journeys gain these visitors; a previous one's lose them.
        affected = await affected_conversions(
            session, merchant_id, {customer_id, *previous}, linked
        )
        await flag_due(session, affected, now)
    return Identified(customer_id, tuple(linked), tuple(affected))
