"""Recording an order: once per merchant and order id, whatever the number of deliveries.

A new order is inserted with ``INSERT … ON CONFLICT (merchant_id, order_id) DO NOTHING``, so
concurrent duplicate deliveries create exactly one conversion; the losers read the winner's
row. A delivery for a known order never creates a sale: it can only move the order along
``placed → refunded → cancelled`` and raise the refunded amount (deliveries may arrive out
of order, so neither goes back), and fill in a click, visitor or customer the first delivery
lacked.

Refunds lower the credited revenue in place: every credit's revenue is its weight times the
conversion's net amount (amount − refunded). A cancellation removes the conversion's credits
(it is not a sale). New identity (a click, visitor or customer filled in later) flags the
conversion to be attributed again.

An order that names both a customer and a visitor (or a click with a visitor) links that
visitor to the customer when the visitor has no customer yet (``attribution.identity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions._sql import insert_for
from attribution.conversions.orders import STATUS_RANK, Order
from attribution.identity import link_visitor, upsert_customer
from hub.storage.models import AttributionCredit, Click, Conversion

__all__ = ["REQUEUE_AFTER", "Recorded", "record_order"]

# An enqueued attribution not done by then is picked up again by the periodic scan.
REQUEUE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Recorded:
    conversion_id: int
    created: bool
    # True when the delivery changed a known order (status, refund or identity).
    changed: bool
    # True when the conversion should be attributed now (enqueue after commit).
    attribute: bool
    status: str


async def _link_identity(
    session: AsyncSession,
    merchant_id: int,
    order: Order,
    customer_id: int | None,
    now: datetime,
) -> None:
    if customer_id is None:
        return
    visitors = {order.visitor_id} if order.visitor_id else set()
    if order.click_id:
        clicked_by = await session.scalar(
            select(Click.visitor_id).where(
                Click.click_id == order.click_id, Click.merchant_id == merchant_id
            )
        )
        if clicked_by:
            visitors.add(clicked_by)
    for visitor in sorted(visitors):
        await link_visitor(session, merchant_id, visitor, customer_id, now, overwrite=False)


async def record_order(
    session: AsyncSession, merchant_id: int, order: Order, now: datetime
) -> Recorded:
    """Insert or update the merchant's conversion for ``order``; the caller commits."""
    customer_id = (
        await upsert_customer(session, merchant_id, order.customer_ref, now)
        if order.customer_ref
        else None
    )
    await _link_identity(session, merchant_id, order, customer_id, now)
    cancelled = order.status == "cancelled"
    inserted = await session.scalar(
        insert_for(session, Conversion)
        .values(
            merchant_id=merchant_id,
            order_id=order.order_id,
            amount_minor=order.amount_minor,
            refunded_minor=order.refunded_minor,
            currency=order.currency,
            occurred_at=order.occurred_at,
            click_id=order.click_id,
            visitor_id=order.visitor_id,
            customer_id=customer_id,
            status=order.status,
            line_items=order.line_items_json(),
            source=order.source,
            created_at=now,
            attribute_due_at=None if cancelled else now + REQUEUE_AFTER,
        )
        .on_conflict_do_nothing(index_elements=["merchant_id", "order_id"])
        .returning(Conversion.id)
    )
    if inserted is not None:
        return Recorded(inserted, True, False, not cancelled, order.status)
    return await _update_known(session, merchant_id, order, customer_id, now)


async def _update_known(
    session: AsyncSession,
    merchant_id: int,
    order: Order,
    customer_id: int | None,
    now: datetime,
) -> Recorded:
    known = await session.scalar(
        select(Conversion)
        .where(Conversion.merchant_id == merchant_id, Conversion.order_id == order.order_id)
        # FOR NO KEY UPDATE (the update changes no key): see journeys.load_conversions.
        .with_for_update(key_share=True)
    )
    assert known is not None, "the conflicting row is committed before ON CONFLICT returns"
    status = max(known.status, order.status, key=lambda s: STATUS_RANK.get(s, 0))
    refunded = min(max(known.refunded_minor, order.refunded_minor), known.amount_minor)
    if status == "refunded" and order.status == "refunded" and not order.refunded_minor:
        refunded = known.amount_minor
    identity = {
        "click_id": known.click_id or order.click_id,
        "visitor_id": known.visitor_id or order.visitor_id,
        "customer_id": known.customer_id or customer_id,
    }
    new_identity = any(getattr(known, k) != v for k, v in identity.items())
    money = status != known.status or refunded != known.refunded_minor
    if not (new_identity or money):
        return Recorded(known.id, False, False, False, known.status)
    values: dict[str, object] = {"status": status, "refunded_minor": refunded, **identity}
    if status == "cancelled":
        values["attribute_due_at"] = None
        await session.execute(
            delete(AttributionCredit).where(AttributionCredit.conversion_id == known.id)
        )
    elif new_identity:
        values["attribute_due_at"] = now + REQUEUE_AFTER
    await session.execute(update(Conversion).where(Conversion.id == known.id).values(values))
    if money and status != "cancelled":
        net = max(known.amount_minor - refunded, 0)
        await session.execute(
            update(AttributionCredit)
            .where(AttributionCredit.conversion_id == known.id)
            .values(revenue_minor=AttributionCredit.weight * net)
        )
    attribute = new_identity and status != "cancelled"
    return Recorded(known.id, False, True, attribute, status)
