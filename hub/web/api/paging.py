"""Cursor pagination: newest first, ``?limit=&cursor=``, ``next_cursor`` in the answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PageQuery", "page"]


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: int | None = Field(default=None, ge=1)


class _HasId(Protocol):
    id: int

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


def page(items: Sequence[_HasId], limit: int) -> dict[str, Any]:
    """The response body; the cursor is the last id when the page is full."""
    return {
        "data": [item.model_dump(mode="json") for item in items],
        "next_cursor": str(items[-1].id) if len(items) == limit else None,
    }
