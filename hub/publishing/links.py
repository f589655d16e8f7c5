"""Each target's tracked link, made by `hub.links.create_link` when the target is made.

Every target gets its own link (short code → storefront entry with UTM and click-id
parameters) and is published with it. A target that has none (made before links existed)
is published with the product's URL.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.links import create_link
from hub.storage.models import ChannelAccount, Link

__all__ = ["base_url", "link_urls", "make_link"]


def base_url(settings: Settings) -> str:
    """Where tracked links live: ``server.public_url``, else the web process's address."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    return f"http://{settings.server.host}:{settings.server.port}"


async def make_link(
    session: AsyncSession,
    merchant_id: int,
    *,
    product_id: int,
    account: ChannelAccount,
    campaign_id: int | None,
    target_id: int,
    settings: Settings,
) -> None:
    """Add the target's tracked link (flushed, not committed)."""
    await create_link(
        session,
        merchant_id,
        product_id=product_id,
        channel_account_id=account.id,
        channel_kind=account.kind,
        campaign_id=campaign_id,
        share_target_id=target_id,
        settings=settings.links,
    )


async def link_urls(session: AsyncSession, target_ids: Sequence[int], base: str) -> dict[int, str]:
    """The tracked link of each target that has one."""
    if not target_ids:
        return {}
    rows = await session.execute(
        select(Link.share_target_id, Link.code).where(Link.share_target_id.in_(target_ids))
    )
    return {int(tid): f"{base}/{code}" for tid, code in rows if tid is not None}
