"""The secrets that sign a merchant's inbound hooks, decrypted only when a hook is checked.

The Standard Webhooks secret is the merchant's ``webhook_secret`` (``whsec_`` + base64),
created with the merchant. Shopify and WooCommerce sign with a secret of their own (the app's
API secret, the webhook's secret); the merchant stores it once per platform.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from attribution.conversions._sql import insert_for
from attribution.conversions.signatures import secret_key_bytes
from hub.security import Vault
from hub.storage.models import Merchant, PlatformSecret
from hub.storage.types import utcnow

__all__ = ["PLATFORMS", "Platform", "platform_secret", "set_platform_secret", "webhook_key"]

Platform = Literal["shopify", "woocommerce"]
PLATFORMS: tuple[Platform, ...] = ("shopify", "woocommerce")


async def webhook_key(session: AsyncSession, vault: Vault, merchant_id: int) -> bytes | None:
    """The HMAC key of the merchant's Standard Webhooks secret, or None (no such merchant)."""
    token = await session.scalar(
        select(Merchant.webhook_secret_encrypted).where(Merchant.id == merchant_id)
    )
    if not token:
        return None
    return secret_key_bytes(vault.decrypt(token))


async def platform_secret(
    session: AsyncSession, vault: Vault, merchant_id: int, platform: Platform
) -> str | None:
    token = await session.scalar(
        select(PlatformSecret.secret_encrypted).where(
            PlatformSecret.merchant_id == merchant_id, PlatformSecret.platform == platform
        )
    )
    return vault.decrypt(token) if token else None


async def set_platform_secret(
    session: AsyncSession, vault: Vault, merchant_id: int, platform: Platform, secret: str
) -> None:
    """Store (or replace) the platform's signing secret, encrypted. The caller commits."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform: expected one of {PLATFORMS}, got {platform!r}")
    if not secret:
        raise ValueError("secret: must not be empty")
    encrypted = vault.encrypt(secret)
    stmt = insert_for(session, PlatformSecret).values(
        merchant_id=merchant_id,
        platform=platform,
        secret_encrypted=encrypted,
        created_at=utcnow(),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["merchant_id", "platform"], set_={"secret_encrypted": encrypted}
    )
    await session.execute(stmt)
