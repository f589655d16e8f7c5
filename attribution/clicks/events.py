"""Click events: built on the hot path as tuples, sent in batches, validated where they land.

A :class:`Click` or :class:`Preview` is a ``NamedTuple`` rather than a dataclass on purpose:
it is made once per redirect (about 0.3 µs against 1.5 µs for a frozen dataclass) and a
batch of them serialises straight to JSON arrays, with orjson (about 0.2 µs a click against
1.5 µs with the standard library's encoder, which ran on the edge's process). Batches cross
a process boundary (the Redis stream, the spool file), so the reading side validates them
with pydantic (:func:`decode_batch`); a batch that does not validate goes to the dead-letter
log, whole.

Wire format, version 1: ``{"v": 1, "c": [[click fields...], ...], "p": [[preview...], ...]}``.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["Batch", "Click", "Preview", "decode_batch", "encode_batch"]

WIRE_VERSION = 1


class Click(NamedTuple):
    """One redirect of a person or a bot; ``at`` is Unix time in seconds."""

    click_id: str
    link_id: int
    merchant_id: int
    visitor_id: str | None
    at: float
    is_bot: bool
    ip: str | None
    user_agent: str
    referrer: str | None


class Preview(NamedTuple):
    """One fetch of a link's card by a preview crawler (reach, never a visit)."""

    link_id: int
    crawler: str
    at: float


Event = Click | Preview

_Str = Annotated[str, Field(max_length=4096)]


class _ClickRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    click_id: Annotated[str, Field(min_length=8, max_length=64)]
    link_id: int
    merchant_id: int
    visitor_id: Annotated[str, Field(max_length=64)] | None
    at: float
    is_bot: bool
    ip: Annotated[str, Field(max_length=64)] | None
    user_agent: _Str
    referrer: _Str | None


class Batch(BaseModel):
    """A decoded, validated batch."""

    model_config = ConfigDict(frozen=True)

    clicks: list[Click]
    previews: list[Preview]


_CLICK_FIELDS = Click._fields
_CLICKS = TypeAdapter(list[_ClickRow])
_PREVIEWS = TypeAdapter(list[tuple[int, Annotated[str, Field(max_length=64)], float]])


def encode_batch(events: list[Event]) -> bytes:
    """JSON bytes of one batch (the order of events is kept within each kind)."""
    clicks = [e for e in events if isinstance(e, Click)]
    previews = [e for e in events if isinstance(e, Preview)]
    # orjson writes tuples but not their subclasses: ``default`` gets each event.
    return orjson.dumps({"v": WIRE_VERSION, "c": clicks, "p": previews}, default=tuple)


def decode_batch(raw: bytes | str) -> Batch:
    """Validated events of one batch; raises ``ValueError`` on anything malformed."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("v") != WIRE_VERSION:
        raise ValueError("not a click batch of wire version 1")
    rows = data.get("c", [])
    if not isinstance(rows, list) or not all(
        isinstance(r, list) and len(r) == len(_CLICK_FIELDS) for r in rows
    ):
        raise ValueError("click rows must be arrays of 9 fields")
    checked = _CLICKS.validate_python([dict(zip(_CLICK_FIELDS, r, strict=True)) for r in rows])
    clicks = [Click(*(getattr(c, f) for f in _CLICK_FIELDS)) for c in checked]
    previews = [Preview(*p) for p in _PREVIEWS.validate_python(data.get("p", []))]
    return Batch(clicks=clicks, previews=previews)
