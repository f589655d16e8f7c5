"""Loading historical orders from a file (``hub conversions backfill``).

Each record has the shape of the body of ``POST /hooks/v1/conversions`` and is validated by the
same model (:class:`OrderIn`), then recorded by the same idempotent ingest
(:func:`record_order`, once per merchant and order id). Two file formats:

- JSON Lines (``.jsonl``, ``.ndjson``): one order object per line; blank lines are skipped.
- CSV (``.csv``): a header row naming the fields (``order_id``, ``amount``, ``currency``,
  ``occurred_at`` are required; ``click_id``, ``visitor_id``, ``customer_id``, ``status``,
  ``refunded_amount`` may follow); ``line_items`` holds the JSON array of the hook; an empty
  cell is a missing field.

A bad record is reported with its line number and reason and changes nothing; the good ones
are recorded. Then the orders end attributed: the rule-based models for every conversion the
file created or gave new identity, and for any of its conversions not attributed yet (a run
that was stopped midway), then the merchant's data-driven batch over a window reaching back to
the oldest order of the file. A second run of the same file records nothing new and attributes
nothing again.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select

from attribution.conversions.ingest import record_order
from attribution.conversions.orders import Order, OrderIn
from attribution.conversions.recompute import reattribute, run_data_driven
from hub.config import AttributionSettings
from hub.progress import ProgressCallback
from hub.storage.db import SessionFactory
from hub.storage.models import Conversion, Merchant

__all__ = [
    "INGEST_PHASE",
    "BackfillFileError",
    "Backfilled",
    "BadLine",
    "FileFormat",
    "backfill",
    "file_format",
    "read_orders",
]

FileFormat = Literal["jsonl", "csv"]
INGEST_PHASE = "record orders"
SOURCE = "backfill"
CSV_REQUIRED = ("order_id", "amount", "currency", "occurred_at")
# Orders recorded per transaction; ids looked up per query.
_CHUNK = 500


class BackfillFileError(ValueError):
    """The file cannot be read at all (a CSV file not UTF-8, malformed, or lacking fields)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Backfilled:
    records: int  # records read (good and bad)
    created: int
    changed: int  # known orders the file refunded, cancelled or gave a click/visitor/customer
    unchanged: int
    bad: tuple[BadLine, ...]
    attributed: int  # conversions given rule-based credits
    credits: int
    data_driven: int  # conversions given data-driven credits


def file_format(path: Path) -> FileFormat:
    """``csv`` for a ``.csv`` file, else JSON Lines."""
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)


def _order(raw: Any) -> Order | str:
    if not isinstance(raw, dict):
        return "expected a JSON object"
    try:
        return OrderIn.model_validate(raw).to_order(SOURCE)
    except ValidationError as exc:
        return _reason(exc)


def _jsonl(path: Path) -> Iterator[tuple[int, Order | BadLine]]:
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                yield number, BadLine(number, "not UTF-8 text")
                continue
            if not text:
                continue
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, BadLine(number, f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            order = _order(parsed)
            yield number, BadLine(number, order) if isinstance(order, str) else order


def _csv(path: Path) -> Iterator[tuple[int, Order | BadLine]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            reader = csv.DictReader(text)
            missing = [f for f in CSV_REQUIRED if f not in (reader.fieldnames or [])]
            if missing:
                raise BackfillFileError(
                    f"{path.name}: the CSV header lacks {', '.join(missing)} "
                    f"(it needs {', '.join(CSV_REQUIRED)})"
                )
            while True:
                number = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise BackfillFileError(f"{path.name}: line {number}: not CSV: {exc}") from None
                yield number, _csv_row(number, row)
    except UnicodeDecodeError as exc:
        raise BackfillFileError(f"{path.name} is not UTF-8 text ({exc.reason})") from None


def _csv_row(number: int, row: dict[str | None, Any]) -> Order | BadLine:
    if row.get(None):
        return BadLine(number, "more cells than the header has columns")
    fields = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
    if "line_items" in fields:
        try:
            fields["line_items"] = json.loads(fields["line_items"])
        except json.JSONDecodeError as exc:
            return BadLine(number, f"line_items: not a valid JSON array ({exc.msg})")
    order = _order(fields)
    return BadLine(number, order) if isinstance(order, str) else order


def read_orders(path: Path, fmt: FileFormat) -> Iterator[tuple[int, Order | BadLine]]:
    """``(line number, order or bad line)`` for each record of the file, in file order."""
    return _csv(path) if fmt == "csv" else _jsonl(path)


async def backfill(
    sessions: SessionFactory,
    cfg: AttributionSettings,
    merchant_id: int,
    path: Path,
    now: datetime,
    *,
    fmt: FileFormat | None = None,
    attribute: bool = True,
    on_progress: ProgressCallback | None = None,
) -> Backfilled:
    """Record the file's orders for the merchant, then attribute them (unless not asked).

    Raises ``LookupError`` for an unknown merchant and :class:`BackfillFileError` when the file
    cannot be read at all — both before anything is recorded.
    """
    fmt = fmt or file_format(path)
    async with sessions() as session:
        if await session.get(Merchant, merchant_id) is None:
            raise LookupError(f"merchant {merchant_id} not found")
    total = sum(1 for _ in read_orders(path, fmt))  # also finds a file-wide error first
    bad: list[BadLine] = []
    counts = {"created": 0, "changed": 0, "unchanged": 0}
    want: set[int] = set()  # conversions to attribute whatever their state
    seen: set[int] = set()
    oldest: datetime | None = None
    if on_progress is not None:
        on_progress(INGEST_PHASE, 0, total)
    records = read_orders(path, fmt)
    done = 0
    while True:
        chunk = [record for _, record in islice(records, _CHUNK)]
        if not chunk:
            break
        async with sessions() as session:
            for record in chunk:
                if isinstance(record, BadLine):
                    bad.append(record)
                    continue
                recorded = await record_order(session, merchant_id, record, now)
                if recorded.created:
                    counts["created"] += 1
                else:
                    counts["changed" if recorded.changed else "unchanged"] += 1
                seen.add(recorded.conversion_id)
                if recorded.attribute:
                    want.add(recorded.conversion_id)
                if recorded.status != "cancelled":
                    oldest = min(oldest or record.occurred_at, record.occurred_at)
            await session.commit()
        done += len(chunk)
        if on_progress is not None:
            on_progress(INGEST_PHASE, done, total)

    attributed = credits = data_driven = 0
    if attribute:
        ids = sorted(want | await _not_attributed(sessions, sorted(seen - want)))
        credits = await reattribute(sessions, cfg, ids, now, on_progress)
        attributed = len(ids)
        if ids:
            window_start = now - timedelta(days=cfg.data_driven_window_days)
            data_driven = await run_data_driven(
                sessions,
                cfg,
                [merchant_id],
                now,
                since=min(oldest, window_start) if oldest is not None else None,
                on_progress=on_progress,
            )
    return Backfilled(
        records=total,
        created=counts["created"],
        changed=counts["changed"],
        unchanged=counts["unchanged"],
        bad=tuple(bad),
        attributed=attributed,
        credits=credits,
        data_driven=data_driven,
    )


async def _not_attributed(sessions: SessionFactory, ids: list[int]) -> set[int]:
    """Those of ``ids`` never attributed (a run stopped before it attributed them)."""
    found: set[int] = set()
    async with sessions() as session:
        for start in range(0, len(ids), _CHUNK):
            rows = await session.scalars(
                select(Conversion.id).where(
                    Conversion.id.in_(ids[start : start + _CHUNK]),
                    Conversion.attributed_at.is_(None),
                    Conversion.status != "cancelled",
                )
            )
            found.update(rows)
    return found
