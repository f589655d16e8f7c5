"""Cursor pagination: newest first, ``?limit=&cursor=``, ``next_cursor`` in the answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Page", "PageQuery", "page"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` back as ``cursor``."""

    data: list[T]
    next_cursor: str | None


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200, description="Items per page.")
    cursor: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="next_cursor of the last page."
    )


class _HasId(Protocol):
    id: int

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


def page(items: Sequence[_HasId], limit: int) -> dict[str, Any]:
    """The response body; the cursor is the last id when the page is full."""
    return {
        "data": [item.model_dump(mode="json") for item in items],
        "next_cursor": str(items[-1].id) if len(items) == limit else None,
    }
