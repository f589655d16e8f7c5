"""Merchants and their API keys: creating them, and finding who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.security import IssuedKey, Vault, hash_api_key, issue_api_key, new_secret
from hub.storage.models import ApiKey, Merchant, Storefront
from hub.storage.types import utcnow
from hub.urls import UrlError, origin_of

__all__ = [
    "ApiKeyInfo",
    "NewMerchant",
    "Principal",
    "Scope",
    "authenticate",
    "create_api_key",
    "create_merchant",
    "list_api_keys",
    "revoke_api_key",
]

_TOUCH_EVERY = timedelta(minutes=1)


class Scope(StrEnum):
    ADMIN = "admin"
    SHARES_WRITE = "shares:write"
    REPORTS_READ = "reports:read"
    # Approve draft shares for publishing.
    APPROVE = "approve"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of an API request: every query is scoped to ``merchant_id``."""

    merchant_id: int
    key_id: int
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as it may be shown: never its secret or hash."""

    id: int
    merchant_id: int
    prefix: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewMerchant:
    merchant_id: int
    storefront_id: int
    api_key: IssuedKey
    webhook_secret: str


async def create_merchant(
    session: AsyncSession,
    vault: Vault,
    *,
    name: str,
    storefront_url: str,
    extra_origins: tuple[str, ...] = (),
    timezone: str = "UTC",
    currency: str = "USD",
) -> NewMerchant:
    """A merchant with its storefront and a first admin key; raises ValueError on bad input."""
    name = name.strip()
    if not name:
        raise ValueError("name: must not be empty")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: unknown IANA time zone {timezone!r}") from None
    try:
        origins = sorted({origin_of(storefront_url), *(origin_of(o) for o in extra_origins)})
    except UrlError as exc:
        raise ValueError(f"storefront: {exc}") from None
    secret = new_secret()
    merchant = Merchant(
        name=name,
        timezone=timezone,
        default_currency=currency.upper(),
        webhook_secret_encrypted=vault.encrypt(secret),
    )
    session.add(merchant)
    await session.flush()
    storefront = Storefront(
        merchant_id=merchant.id, name="main", entry_url=storefront_url, allowed_origins=origins
    )
    session.add(storefront)
    issued = await create_api_key(session, merchant.id, name="default", scopes=[Scope.ADMIN])
    await session.flush()
    return NewMerchant(merchant.id, storefront.id, issued, secret)


async def create_api_key(
    session: AsyncSession, merchant_id: int, *, name: str, scopes: list[Scope]
) -> IssuedKey:
    issued = issue_api_key("hub")
    session.add(
        ApiKey(
            merchant_id=merchant_id,
            name=name,
            prefix=issued.prefix,
            key_hash=issued.key_hash,
            scopes=sorted(str(s) for s in scopes),
        )
    )
    return issued


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    """The principal of a live key, or None; marks the key used at most once a minute."""
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.merchant_id, ApiKey.scopes, ApiKey.last_used_at).where(
                ApiKey.key_hash == hash_api_key(token), ApiKey.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    if row is None:
        return None
    now = utcnow()
    last: datetime | None = row.last_used_at
    if last is None or now - last > _TOUCH_EVERY:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        await session.commit()
    return Principal(merchant_id=row.merchant_id, key_id=row.id, scopes=frozenset(row.scopes))


def _info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=key.id,
        merchant_id=key.merchant_id,
        prefix=key.prefix,
        name=key.name,
        scopes=tuple(key.scopes),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def list_api_keys(
    session: AsyncSession,
    merchant_id: int,
    *,
    limit: int = 200,
    before_id: int | None = None,
    prefix: str | None = None,
) -> list[ApiKeyInfo]:
    """The merchant's keys (or the one with ``prefix``), revoked ones included, newest first."""
    query = select(ApiKey).where(ApiKey.merchant_id == merchant_id)
    if prefix is not None:
        query = query.where(ApiKey.prefix == prefix)
    if before_id is not None:
        query = query.where(ApiKey.id < before_id)
    rows = (await session.scalars(query.order_by(ApiKey.id.desc()).limit(limit))).all()
    return [_info(k) for k in rows]


async def revoke_api_key(
    session: AsyncSession,
    *,
    merchant_id: int | None = None,
    key_id: int | None = None,
    prefix: str | None = None,
) -> ApiKeyInfo | None:
    """Revoke one key found by id or prefix (within ``merchant_id`` when given); None if unknown.

    Revoking twice keeps the first time. The caller commits.
    """
    if (key_id is None) == (prefix is None):
        raise ValueError("pass exactly one of key_id and prefix")
    query = select(ApiKey).where(
        ApiKey.id == key_id if key_id is not None else ApiKey.prefix == prefix
    )
    if merchant_id is not None:
        query = query.where(ApiKey.merchant_id == merchant_id)
    key = (await session.scalars(query)).one_or_none()
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return _info(key)
