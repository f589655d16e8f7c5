"""Recurring shares: the occurrences of an RFC 5545 RRULE, in the merchant's local time.

The rule is read by python-dateutil's ``rrulestr`` with the first occurrence as DTSTART,
expressed in the merchant's time zone, so "every Monday at 09:00" stays at 09:00 local time
on both sides of a DST change (the UTC instants move by an hour, as they should). A series
must end (COUNT or UNTIL) and is expanded when the share is made into one share per
occurrence, each with its own targets, links and idempotency keys; the policy gate still
applies to every one of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

__all__ = ["MAX_OCCURRENCES", "MAX_SPAN", "occurrences"]

MAX_OCCURRENCES = 100
MAX_SPAN = timedelta(days=2 * 366)


def occurrences(rule: str, start: datetime, timezone: str) -> list[datetime]:
    """The UTC instants of `rule` from `start`; ValueError when the rule is unusable."""
    text = rule.strip().removeprefix("RRULE:")
    upper = text.upper()
    if "DTSTART" in upper or "\n" in text:
        raise ValueError("give the rule alone (RRULE parts); the share's `at` is its start")
    parts = {p.split("=", 1)[0] for p in upper.split(";") if p}
    if not parts & {"COUNT", "UNTIL"}:
        raise ValueError("a recurring share must end: add COUNT=n or UNTIL=date")
    local_start = start.astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    try:
        parsed = rrulestr(text, dtstart=local_start)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an RRULE: {exc}") from None
    if not isinstance(parsed, rrule):
        raise ValueError("give one RRULE")
    out: list[datetime] = []
    for moment in parsed:
        if len(out) == MAX_OCCURRENCES:
            raise ValueError(f"at most {MAX_OCCURRENCES} occurrences")
        when = moment.astimezone(UTC)
        if when - out[0] > MAX_SPAN if out else False:
            raise ValueError("a series may span at most two years")
        out.append(when)
    if not out:
        raise ValueError("the rule has no occurrence from the share's start")
    return out
