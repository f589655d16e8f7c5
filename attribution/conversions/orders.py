"""Orders as the storefront reports them, and the one normalised form the hub stores.

``OrderIn`` is the body of ``POST /hooks/v1/conversions``::

    {"order_id": "1001", "amount": "59.90", "currency": "EUR",
     "occurred_at": "2026-03-01T20:15:00+01:00",
     "click_id": "…", "visitor_id": "…", "customer_id": "cust-42",
     "line_items": [{"product_id": 7, "quantity": 1, "amount": "39.90"},
                    {"external_id": "SKU-9", "quantity": 2, "amount": "20.00"}],
     "status": "placed"}

A line item's ``amount`` is the line's total (all its units, after discounts); line amounts
split the order's value between the products it names. At least one of ``click_id``,
``visitor_id`` and ``customer_id`` is required (an order that names none can be credited to
nothing). ``status`` is ``placed``, ``refunded`` or
``cancelled``; ``refunded_amount`` says how much was refunded (a ``refunded`` status without
it means all of it). The platform adapters (``attribution.conversions.platforms``) build the
same :class:`Order`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.money import is_currency, to_minor

__all__ = ["STATUS_RANK", "LineItem", "LineItemIn", "Order", "OrderIn", "Status"]

Status = Literal["placed", "refunded", "cancelled"]
# Deliveries may arrive out of order: a status never goes back down this ladder.
STATUS_RANK: dict[str, int] = {"placed": 0, "refunded": 1, "cancelled": 2}

_Amount = Field(max_digits=18, decimal_places=6, ge=0)
_Id = Field(min_length=1, max_length=255)
_TrackId = Field(default=None, min_length=1, max_length=64)


@dataclass(frozen=True, slots=True)
class LineItem:
    """One order line: the product as the storefront names it, and its amount in minor units."""

    product_id: int | None
    external_id: str | None
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Order:
    """A normalised order, whatever sent it."""

    order_id: str
    amount_minor: int
    refunded_minor: int
    currency: str
    occurred_at: datetime
    status: Status
    click_id: str | None
    visitor_id: str | None
    customer_ref: str | None
    line_items: tuple[LineItem, ...]
    source: str

    def line_items_json(self) -> list[dict[str, object]]:
        return [
            {
                "product_id": li.product_id,
                "external_id": li.external_id,
                "quantity": li.quantity,
                "amount_minor": li.amount_minor,
            }
            for li in self.line_items
        ]


class LineItemIn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: int | None = Field(default=None, ge=1)
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    quantity: int = Field(default=1, ge=0, le=1_000_000)
    amount: Decimal = _Amount

    @model_validator(mode="after")
    def _names_a_product(self) -> LineItemIn:
        if self.product_id is None and self.external_id is None:
            raise ValueError("a line item needs product_id or external_id")
        return self


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: str = _Id
    amount: Decimal = _Amount
    currency: str = Field(min_length=3, max_length=3)
    occurred_at: AwareDatetime
    click_id: str | None = _TrackId
    visitor_id: str | None = _TrackId
    customer_id: str | None = Field(default=None, min_length=1, max_length=255)
    line_items: list[LineItemIn] = Field(default_factory=list, max_length=500)
    status: Status = "placed"
    refunded_amount: Decimal | None = Field(default=None, max_digits=18, decimal_places=6, ge=0)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        code = value.upper()
        if not is_currency(code):
            raise ValueError(f"unknown ISO 4217 currency {value!r}")
        return code

    @model_validator(mode="after")
    def _names_someone(self) -> OrderIn:
        if not (self.click_id or self.visitor_id or self.customer_id):
            raise ValueError("give click_id, visitor_id or customer_id")
        if self.refunded_amount is not None and self.refunded_amount > self.amount:
            raise ValueError("refunded_amount is more than amount")
        return self

    def to_order(self, source: str = "api") -> Order:
        amount_minor = to_minor(self.amount, self.currency)
        if self.refunded_amount is not None:
            refunded = to_minor(self.refunded_amount, self.currency)
        else:
            refunded = amount_minor if self.status == "refunded" else 0
        return Order(
            order_id=self.order_id,
            amount_minor=amount_minor,
            refunded_minor=min(refunded, amount_minor),
            currency=self.currency,
            occurred_at=self.occurred_at.astimezone(UTC),
            status=self.status,
            click_id=self.click_id,
            visitor_id=self.visitor_id,
            customer_ref=self.customer_id,
            line_items=tuple(
                LineItem(
                    li.product_id, li.external_id, li.quantity, to_minor(li.amount, self.currency)
                )
                for li in self.line_items
            ),
            source=source,
        )
