"""Credits into SQL: per conversion, model, touchpoint (click) and product sold.

A model's credit of a click is split between the products the order's line items name, in
proportion to the line amounts (a line whose product the hub does not know keeps its share
under ``product_id`` NULL; an order without line items is one NULL share). Each stored row's
``weight`` is the model weight times that product share — the weights of one conversion and
model sum to 1 — and its ``revenue_minor`` is ``weight`` times the conversion's net amount, so
that a refund is one ``UPDATE … SET revenue_minor = weight * net``.

Credits of a conversion are replaced, model by model, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions.journeys import ConversionFacts, Touch
from attribution.models import Credit
from hub.storage.models import AttributionCredit, Product

__all__ = ["ProductShares", "credit_rows", "product_resolver", "product_shares", "replace_credits"]

ProductShares = list[tuple[int | None, float]]
_CHUNK = 2000


async def product_resolver(
    session: AsyncSession, merchant_id: int, conversions: Iterable[ConversionFacts]
) -> dict[str, int]:
    """Map ``"id:<n>"`` / ``"ext:<external id>"`` of the line items to the merchant's products."""
    ids: set[int] = set()
    externals: set[str] = set()
    for facts in conversions:
        for item in facts.line_items:
            if item.get("product_id") is not None:
                ids.add(int(item["product_id"]))
            if item.get("external_id"):
                externals.add(str(item["external_id"]))
    if not ids and not externals:
        return {}
    found: dict[str, int] = {}
    for chunk_ids, chunk_ext in _chunks(sorted(ids), sorted(externals)):
        rows = await session.execute(
            select(Product.id, Product.external_id).where(
                Product.merchant_id == merchant_id,
                or_(Product.id.in_(chunk_ids), Product.external_id.in_(chunk_ext)),
            )
        )
        for product_id, external_id in rows:
            found[f"id:{product_id}"] = product_id
            if external_id is not None:
                found[f"ext:{external_id}"] = product_id
    return found


def _chunks(ids: list[int], ext: list[str]) -> Iterable[tuple[list[int], list[str]]]:
    for i in range(0, max(len(ids), len(ext)), _CHUNK):
        yield ids[i : i + _CHUNK], ext[i : i + _CHUNK]


def product_shares(facts: ConversionFacts, products: Mapping[str, int]) -> ProductShares:
    """The order's value split by product, in proportion to the line amounts."""
    amounts: dict[int | None, int] = {}
    for item in facts.line_items:
        product: int | None = None
        if item.get("product_id") is not None:
            product = products.get(f"id:{int(item['product_id'])}")
        if product is None and item.get("external_id"):
            product = products.get(f"ext:{item['external_id']}")
        amount = max(int(item.get("amount_minor") or 0), 0)
        amounts[product] = amounts.get(product, 0) + amount
    total = sum(amounts.values())
    if total <= 0:
        return [(None, 1.0)]
    return [(p, a / total) for p, a in sorted(amounts.items(), key=_order) if a > 0]


def _order(item: tuple[int | None, int]) -> tuple[int, int]:
    return (0, 0) if item[0] is None else (1, item[0])


def credit_rows(
    facts: ConversionFacts,
    credits: Sequence[Credit],
    touches: Mapping[str, Touch],
    shares: ProductShares,
) -> list[dict[str, Any]]:
    """The ``attribution_credits`` rows of one conversion's credits."""
    net = facts.net_minor
    rows: list[dict[str, Any]] = []
    for credit in credits:
        touch = touches[credit.touchpoint_id]
        for product_id, share in shares:
            weight = credit.weight * share
            rows.append(
                {
                    "merchant_id": facts.merchant_id,
                    "conversion_id": facts.id,
                    "model": credit.model,
                    "click_id": touch.click_id,
                    "link_id": touch.link_id,
                    "channel_account_id": touch.channel_account_id,
                    "channel_kind": touch.channel_kind,
                    "campaign_id": touch.campaign_id,
                    "product_id": product_id,
                    "weight": weight,
                    "revenue_minor": weight * net,
                    "occurred_at": facts.occurred_at,
                }
            )
    return rows


async def replace_credits(
    session: AsyncSession,
    conversion_ids: Collection[int],
    models: Collection[str] | None,
    rows: Sequence[dict[str, Any]],
) -> None:
    """Delete these conversions' credits of ``models`` (``None``: of every model) and insert
    ``rows`` (same transaction)."""
    ids = sorted(conversion_ids)
    for i in range(0, len(ids), _CHUNK):
        gone = delete(AttributionCredit).where(
            AttributionCredit.conversion_id.in_(ids[i : i + _CHUNK])
        )
        if models is not None:
            gone = gone.where(AttributionCredit.model.in_(list(models)))
        await session.execute(gone.execution_options(synchronize_session=False))
    # NULLs written out, not left to defaults: every row has the same columns, so the rows go
    # in one multi-row INSERT rather than one per pattern of NULLs.
    new = insert(AttributionCredit).execution_options(render_nulls=True)
    for i in range(0, len(rows), _CHUNK):
        await session.execute(new, list(rows[i : i + _CHUNK]))
