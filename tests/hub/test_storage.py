"""Schema and models on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from hub.config import DatabaseSettings
from hub.security import Vault
from hub.storage.db import create_engine, session_factory
from hub.storage.migrate import current_revision, downgrade, head_revision, upgrade
from hub.storage.models import (
    ApiKey,
    Base,
    Conversion,
    Merchant,
    Product,
    Storefront,
)
from hub.tenancy import create_merchant
from tests.conftest import SECRET


async def _tables(engine: object) -> set[str]:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_go_up_down_and_up_again(empty_db: str) -> None:
    engine = create_engine(DatabaseSettings(url=empty_db))
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        expected = set(Base.metadata.tables)
        assert expected <= await _tables(engine)
        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        assert not (expected & await _tables(engine))
        await upgrade(engine)
        assert expected <= await _tables(engine)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(empty_db: str) -> None:
    """Autogenerate finds nothing to do: no model change lacks its migration."""
    engine = create_engine(DatabaseSettings(url=empty_db))
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


async def test_times_are_aware_utc_and_naive_times_refused(settings: object) -> None:
    engine = create_engine(settings.database)  # type: ignore[attr-defined]
    sessions = session_factory(engine)
    vault = Vault(SECRET)
    try:
        async with sessions() as session:
            made = await create_merchant(
                session, vault, name="Shop", storefront_url="https://shop.test/"
            )
            shanghai = timezone(timedelta(hours=8))
            session.add(
                Conversion(
                    merchant_id=made.merchant_id, order_id="A1", amount_minor=1999,
                    currency="USD", occurred_at=datetime(2026, 3, 1, 20, 0, tzinfo=shanghai),
                )
            )
            await session.commit()
        async with sessions() as session:
            conv = await session.scalar(select(Conversion))
            assert conv is not None
            assert conv.occurred_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
            assert conv.occurred_at.tzinfo is not None
            session.add(
                Conversion(
                    merchant_id=made.merchant_id, order_id="A2", amount_minor=1,
                    currency="USD", occurred_at=datetime(2026, 3, 1, 12, 0),
                )
            )
            with pytest.raises(StatementError, match="naive datetime"):
                await session.commit()
    finally:
        await engine.dispose()


async def test_constraints_hold_on_both_backends(settings: object) -> None:
    engine = create_engine(settings.database)  # type: ignore[attr-defined]
    sessions = session_factory(engine)
    vault = Vault(SECRET)
    try:
        async with sessions() as session:
            made = await create_merchant(session, vault, name="S", storefront_url="https://s.test")
            await session.commit()
            now = datetime.now(UTC)
            for order in ("X", "X"):
                session.add(Conversion(merchant_id=made.merchant_id, order_id=order,
                                       amount_minor=1, currency="EUR", occurred_at=now))
            with pytest.raises(IntegrityError):
                await session.commit()
            await session.rollback()
            session.add(Product(merchant_id=999_999, title="t", url="https://s.test/p"))
            with pytest.raises(IntegrityError):  # foreign keys are enforced on SQLite too
                await session.commit()
            await session.rollback()
        async with sessions() as session:  # deleting a merchant removes what it owns
            merchant = await session.get(Merchant, made.merchant_id)
            await session.delete(merchant)
            await session.commit()
            assert (await session.scalar(select(ApiKey))) is None
            assert (await session.scalar(select(Storefront))) is None
    finally:
        await engine.dispose()


async def test_only_secrets_hashes_and_ciphertexts_are_stored(settings: object) -> None:
    engine = create_engine(settings.database)  # type: ignore[attr-defined]
    sessions = session_factory(engine)
    vault = Vault(SECRET)
    try:
        async with sessions() as session:
            made = await create_merchant(session, vault, name="S", storefront_url="https://s.test")
            await session.commit()
        async with sessions() as session:
            key = await session.scalar(select(ApiKey))
            merchant = await session.get(Merchant, made.merchant_id)
        assert key is not None and merchant is not None
        stored = " ".join(str(v) for v in (key.prefix, key.key_hash, key.name))
        assert made.api_key.token not in stored
        assert key.key_hash == made.api_key.key_hash
        assert made.webhook_secret not in merchant.webhook_secret_encrypted
        assert vault.decrypt(merchant.webhook_secret_encrypted) == made.webhook_secret
    finally:
        await engine.dispose()
