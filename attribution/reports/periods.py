"""Report periods in the merchant's time zone, and the SQL that puts a time on its local day.

A period is a range of local dates, both ends included; it covers the UTC instants from the
start of its first day to the start of the day after its last, in the merchant's zone, so
days of 23 or 25 hours (daylight saving) are whole days.

The local date of a stored UTC time: PostgreSQL converts with ``timezone(zone, at)``.
SQLite knows no zones, so the UTC offsets in force during the period are worked out here (the
zone's transitions inside the period, found to the second) and the query adds the right one
with a ``CASE`` over the transition instants — a handful of branches, evaluated only on rows
the index already selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["MAX_DAYS", "Period", "Span", "local_day"]

MAX_DAYS = 1100


@dataclass(frozen=True, slots=True)
class Span:
    """Local days ``first`` to ``last`` (both included); ``weeks``: whole weeks, Monday to
    Sunday, read from a weekly rollup keyed by each week's Monday (``first`` and ``last`` are
    then the first and the last of those Mondays)."""

    first: date
    last: date
    weeks: bool = False


@dataclass(frozen=True, slots=True)
class Period:
    first_day: date
    last_day: date
    timezone: str

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError("the period ends before it starts")
        if (self.last_day - self.first_day).days + 1 > MAX_DAYS:
            raise ValueError(f"a period is at most {MAX_DAYS} days")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_start(self, day: date) -> datetime:
        """The UTC instant at which local ``day`` begins."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.day_start(self.first_day)

    @property
    def end(self) -> datetime:
        """Exclusive: the start of the day after the last."""
        return self.day_start(self.last_day + timedelta(days=1))

    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]

    def spans(self) -> list[Span]:
        """The period as its whole weeks (Monday to Sunday) and the days before and after
        them, in order; the days alone when it holds no whole week."""
        monday = self.first_day + timedelta(days=-self.first_day.weekday() % 7)
        sunday = self.last_day - timedelta(days=(self.last_day.weekday() + 1) % 7)
        if (sunday - monday).days < 6:
            return [Span(self.first_day, self.last_day)]
        spans = [Span(monday, sunday - timedelta(days=6), weeks=True)]
        if self.first_day < monday:
            spans.insert(0, Span(self.first_day, monday - timedelta(days=1)))
        if sunday < self.last_day:
            spans.append(Span(sunday + timedelta(days=1), self.last_day))
        return spans

    def on_grid(self, step_s: int) -> bool:
        """Whether every local day of the period begins (and the period ends) on a multiple
        of ``step_s`` seconds of UTC time: then counts kept per ``step_s`` bucket add up to
        each day exactly. True for 15-minute buckets in every zone of today's tz database;
        False for the odd historical offset (local mean time before 1900 and the like)."""
        bounds = [self.day_start(d) for d in self.days()] + [self.end]
        return all(int(b.timestamp()) % step_s == 0 and b.microsecond == 0 for b in bounds)

    def offsets(self) -> list[tuple[datetime | None, int]]:
        """``(until, offset_s)`` pieces covering the period; the last piece has ``until=None``."""
        zone = self.zone

        def offset(at: datetime) -> int:
            delta = at.astimezone(zone).utcoffset()
            return int(delta.total_seconds()) if delta is not None else 0

        pieces: list[tuple[datetime | None, int]] = []
        at, end = self.start, self.end
        current = offset(at)
        while at < end:
            step = min(at + timedelta(hours=1), end)
            if offset(step) != current:
                lo, hi = at, step  # offset(lo) == current != offset(hi): find the change
                while hi - lo > timedelta(seconds=1):
                    mid = lo + (hi - lo) / 2
                    lo, hi = (mid, hi) if offset(mid) == current else (lo, mid)
                pieces.append((hi, current))
                current = offset(hi)
            at = step
        pieces.append((None, current))
        return pieces


def local_day(column: Any, period: Period, dialect: str) -> ColumnElement[Any]:
    """SQL for the merchant-local date of a UTC time column (a date, or ISO text on SQLite)."""
    if dialect == "postgresql":
        return cast(func.timezone(period.timezone, column), Date)
    pieces = period.offsets()
    if len(pieces) == 1:
        modifier: ColumnElement[Any] = literal(f"{pieces[0][1]:+d} seconds")
    else:
        modifier = case(
            *[(column < until, f"{off:+d} seconds") for until, off in pieces[:-1]],
            else_=f"{pieces[-1][1]:+d} seconds",
        )
    return func.date(column, modifier)
