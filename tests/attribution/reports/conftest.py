"""Fixtures of the report tests that move a database between migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from hub.config import DatabaseSettings
from hub.storage.db import SessionFactory, create_engine, session_factory
from hub.storage.migrate import downgrade, upgrade


@pytest.fixture
def database(pg_database_factory: Callable[[], str]) -> str:
    """A PostgreSQL database of its own, not migrated: the test picks the revision."""
    return pg_database_factory()


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    """Upgrade (or, ``down``, downgrade) the database at ``url`` to ``revision``."""
    engine = create_engine(DatabaseSettings(url=url))
    try:
        await (downgrade if down else upgrade)(engine, revision)
    finally:
        await engine.dispose()


@pytest.fixture
async def db_sessions(database: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(DatabaseSettings(url=database))
    yield session_factory(engine)
    await engine.dispose()


async def connect(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection to the database at ``url`` (to drive transactions by hand)."""
    u = make_url(url)
    return await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password,
        database=u.database, timeout=5,
    )  # fmt: skip
