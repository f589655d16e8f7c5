"""Import many product pages for one merchant (``hub products import``).

    report = await import_products(sessions, merchant_id, urls, http, options, concurrency=4)

Each URL goes through :func:`hub.catalog.import_product` (the safe fetch and the product card
reader), at most ``concurrency`` at a time. A URL that fails — refused, not fetched, no product
on the page, not on the merchant's storefront — is reported with its reason and the others go
on. A URL is refused before any fetch when it is not on one of the merchant's storefront
origins, and so is a product whose page names a URL elsewhere.

Importing is idempotent by product URL (the page's canonical URL, else its final URL): a page
whose product the merchant already has updates that product's card (``updated``, or
``unchanged`` when the page says the same), never a second product. The same URL given twice
is imported once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import aiohttp
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.catalog.errors import ProductImportError
from hub.catalog.extract import ImportedProduct
from hub.catalog.fetch import ImportOptions
from hub.catalog.importer import import_product
from hub.catalog.products import (
    ProductIn,
    ProductOutsideStorefront,
    create_product,
)
from hub.config import ImportSettings
from hub.money import is_currency, to_minor
from hub.progress import ProgressCallback
from hub.storage.db import SessionFactory
from hub.storage.models import Merchant, Product, Storefront
from hub.storage.types import utcnow
from hub.urls import UrlError, origin_of

__all__ = ["ImportReport", "UrlOutcome", "import_options", "import_products"]

PHASE = "import products"
Status = Literal["created", "updated", "unchanged", "failed"]
_MAX_TAGS, _MAX_TAG_CHARS = 30, 64


@dataclass(frozen=True, slots=True)
class UrlOutcome:
    """What became of one URL; ``reason`` (``"code: message"``) only when it failed."""

    url: str
    status: Status
    product_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ImportReport:
    outcomes: tuple[UrlOutcome, ...]  # in the order the URLs were given

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> tuple[UrlOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")


def import_options(cfg: ImportSettings) -> ImportOptions:
    """The importer's limits from the ``product_import`` settings."""
    return ImportOptions(
        max_bytes=cfg.max_bytes,
        timeout_s=cfg.timeout_s,
        max_redirects=cfg.max_redirects,
        allow_private=cfg.allow_private,
        user_agent=cfg.user_agent,
    )


def _unique(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(u.strip() for u in urls if u.strip()))


def product_in(imported: ImportedProduct) -> ProductIn:
    """The product card to store; a price whose currency is unknown is left out."""
    currency = (imported.currency or "").upper()
    known = bool(currency) and is_currency(currency)
    return ProductIn(
        title=imported.title,
        description=imported.description,
        url=imported.url,
        price=imported.price if known else None,
        currency=currency if known else None,
        image_url=imported.image_url,
        tags=[t[:_MAX_TAG_CHARS] for t in imported.tags if t.strip()][:_MAX_TAGS],
    )


async def _save(session: AsyncSession, merchant_id: int, data: ProductIn) -> UrlOutcome:
    url = str(data.url)
    known = await session.scalar(
        select(Product)
        .where(Product.merchant_id == merchant_id, Product.url == url)
        .order_by(Product.id)
        .limit(1)
    )
    if known is None:
        made = await create_product(session, merchant_id, data)
        return UrlOutcome(url, "created", made.id)
    price_minor = None
    if data.price is not None and data.currency is not None:
        price_minor = to_minor(data.price, data.currency)
    card = {
        "title": data.title,
        "description": data.description,
        "price_minor": price_minor,
        "currency": data.currency,
        "image_url": str(data.image_url) if data.image_url else None,
        "tags": list(data.tags),
    }
    if all(getattr(known, name) == value for name, value in card.items()):
        return UrlOutcome(url, "unchanged", known.id)
    for name, value in card.items():
        setattr(known, name, value)
    known.updated_at = utcnow()
    await session.commit()
    return UrlOutcome(url, "updated", known.id)


async def _origins(sessions: SessionFactory, merchant_id: int) -> set[str]:
    async with sessions() as session:
        if await session.get(Merchant, merchant_id) is None:
            raise LookupError(f"merchant {merchant_id} not found")
        rows = await session.scalars(
            select(Storefront.allowed_origins).where(Storefront.merchant_id == merchant_id)
        )
        return {origin for origins in rows for origin in origins}


async def import_products(
    sessions: SessionFactory,
    merchant_id: int,
    urls: Iterable[str],
    http: aiohttp.ClientSession,
    options: ImportOptions,
    *,
    concurrency: int = 4,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import every URL for the merchant; raises ``LookupError`` for an unknown merchant."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    todo = _unique(urls)
    origins = await _origins(sessions, merchant_id)
    outcomes: list[UrlOutcome | None] = [None] * len(todo)
    pending = iter(enumerate(todo))
    writing = asyncio.Lock()  # one write at a time: the same product found twice stays one
    done = 0

    async def one(url: str) -> UrlOutcome:
        try:
            origin = origin_of(url)
        except UrlError as exc:
            return UrlOutcome(url, "failed", reason=f"invalid_url: {exc}")
        if origin not in origins:
            return UrlOutcome(
                url, "failed", reason=f"outside_storefront: {origin} is not a storefront origin"
            )
        try:
            imported = await import_product(url, http, options)
            data = product_in(imported)
        except ProductImportError as exc:
            return UrlOutcome(url, "failed", reason=str(exc))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            return UrlOutcome(url, "failed", reason=f"invalid_product: {problems}")
        async with writing, sessions() as session:
            try:
                saved = await _save(session, merchant_id, data)
            except ProductOutsideStorefront as exc:
                return UrlOutcome(url, "failed", reason=f"outside_storefront: {exc}")
        return UrlOutcome(url, saved.status, saved.product_id)

    async def worker() -> None:
        nonlocal done
        for index, url in pending:
            outcomes[index] = await one(url)
            done += 1
            if on_progress is not None:
                on_progress(PHASE, done, len(todo))

    if on_progress is not None:
        on_progress(PHASE, 0, len(todo))
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(todo))):
            group.create_task(worker())
    return ImportReport(tuple(o for o in outcomes if o is not None))
