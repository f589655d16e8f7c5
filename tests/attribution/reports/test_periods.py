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
