"""The edge's SQL resolver: a code → :class:`~attribution.edge.LinkEntry`, on a cache miss only.

It reads the link, its product card, the merchant's name and the storefronts' origins, and
hands them to :func:`attribution.edge.make_entry`, which re-checks the destination against
those origins: a link whose destination is no longer on them resolves disabled (410).
"""

from __future__ import annotations

from sqlalchemy import select

from attribution.edge import Card, LinkEntry, Resolver, make_entry
from hub.config import LinkSettings
from hub.links.destination import is_safe_destination
from hub.links.service import merchant_origins
from hub.money import from_minor
from hub.storage.db import SessionFactory
from hub.storage.models import Link, Merchant, Product, Storefront

__all__ = ["sql_resolver"]


def sql_resolver(sessions: SessionFactory, settings: LinkSettings) -> Resolver:
    async def resolve(code: str) -> LinkEntry | None:
        async with sessions() as session:
            row = (
                await session.execute(
                    select(Link, Product, Merchant.name)
                    .join(Merchant, Merchant.id == Link.merchant_id)
                    .outerjoin(
                        Product,
                        (Product.id == Link.product_id) & (Product.merchant_id == Link.merchant_id),
                    )
                    .where(Link.code == code)
                )
            ).one_or_none()
            if row is None:
                return None
            link, product, merchant_name = row
            origins = merchant_origins(
                await session.scalars(
                    select(Storefront.allowed_origins).where(
                        Storefront.merchant_id == link.merchant_id
                    )
                )
            )
        card = None
        if product is not None:
            price = None
            if product.price_minor is not None and product.currency:
                price = str(from_minor(product.price_minor, product.currency))
            card = Card(
                title=product.title,
                description=product.description,
                image_url=product.image_url,
                price=price,
                currency=product.currency if price else None,
                site_name=merchant_name,
            )
        else:
            card = Card(title=merchant_name, site_name=merchant_name)
        return make_entry(
            link_id=link.id,
            merchant_id=link.merchant_id,
            code=link.code,
            destination_url=link.destination_url,
            enabled=link.enabled,
            expires_at=link.expires_at.timestamp() if link.expires_at else None,
            click_id_param=settings.click_id_param,
            card=card,
            is_safe=is_safe_destination,
            origins=origins,
        )

    return resolve
