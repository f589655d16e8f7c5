"""Local days of a period: its UTC bounds and the offsets in force (daylight saving)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from attribution.reports import MAX_DAYS, Period


def test_new_york_spring_forward() -> None:
    p = Period(date(2026, 3, 7), date(2026, 3, 9), "America/New_York")
    assert p.start == datetime(2026, 3, 7, 5, tzinfo=UTC)
    assert p.end == datetime(2026, 3, 10, 4, tzinfo=UTC)  # one hour shorter
    assert p.offsets() == [(datetime(2026, 3, 8, 7, tzinfo=UTC), -5 * 3600), (None, -4 * 3600)]


@pytest.mark.parametrize(
    "zone", ["Australia/Lord_Howe", "Asia/Kolkata", "Europe/London", "America/St_Johns", "UTC"]
)
def test_offsets_agree_with_zoneinfo(zone: str) -> None:
    p = Period(date(2025, 1, 1), date(2025, 12, 31), zone)
    pieces = p.offsets()
    at = p.start
    while at < p.end:
        expected = at.astimezone(ZoneInfo(zone)).utcoffset()
        assert expected is not None
        offset = next(off for until, off in pieces if until is None or at < until)
        assert offset == int(expected.total_seconds()), at
        at += timedelta(minutes=29)


def test_bad_periods() -> None:
    with pytest.raises(ValueError):
        Period(date(2026, 3, 2), date(2026, 3, 1), "UTC")
    with pytest.raises(ValueError):
        Period(date(2020, 1, 1), date(2020, 1, 1) + timedelta(days=MAX_DAYS), "UTC")
    assert len(Period(date(2026, 3, 1), date(2026, 3, 1), "UTC").days()) == 1


def test_offset_changes_found_to_the_second() -> None:
    # Chatham leaves daylight saving at 03:45 local (+13:45), 14:00 UTC: 3 h 45 min after
    # the period's first midnight, so not on one of the hourly steps of the search.
    p = Period(date(2026, 4, 1), date(2026, 4, 10), "Pacific/Chatham")
    assert p.offsets() == [
        (datetime(2026, 4, 4, 14, tzinfo=UTC), 13 * 3600 + 45 * 60),
        (None, 12 * 3600 + 45 * 60),
    ]


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "UTC"])
def test_local_days_begin_on_15_minute_boundaries(zone: str) -> None:
    assert Period(date(2025, 1, 1), date(2025, 12, 31), zone).on_grid(900)
    assert not Period(date(2025, 1, 1), date(2025, 1, 2), "Asia/Kathmandu").on_grid(3600)
