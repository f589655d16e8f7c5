"""SQL helpers shared by the conversion modules: upserts that read the same on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_for", "is_postgres"]


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_for(session: AsyncSession, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_do_nothing`` / ``_do_update`` for the session's backend."""
    if is_postgres(session):
        return postgresql.insert(table)
    return sqlite.insert(table)
