"""The policy gate: may this account post this card now, and if not, when?

Pure functions over a small snapshot of the account's recent posts (published, being
published or of unknown outcome: a post in flight counts as posted). Rules, from
`hub.config.PolicyRules` (defaults in ``config.yaml``, per kind, per account):

- ``max_posts_per_24h``: posts in any rolling 24 hours (0: no cap);
- ``min_gap_s``: seconds between two posts;
- ``quiet_hours``: ``HH:MM-HH:MM`` in the merchant's time zone, no posts inside (may span
  midnight); the end is computed as a wall-clock time with `zoneinfo`, so it is right on the
  nights the clocks change;
- ``same_product_days``: the same product not again on the account within N days;
- ``near_duplicate_days`` / ``near_duplicate_bits``: no text within N bits (simhash) of a
  post of the last N days.

A target that breaks a rule gets the *next allowed time*, computed (the smallest time that
satisfies every rule, found by moving forward rule by rule until nothing moves), not polled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from hub.config import PolicyRules
from hub.publishing.similarity import distance

__all__ = ["Candidate", "Decision", "RecentPost", "Rules", "decide", "lookback", "rules_of"]

DAY = timedelta(hours=24)
_MAX_ROUNDS = 32


@dataclass(frozen=True, slots=True)
class Rules:
    max_posts_per_24h: int
    min_gap: timedelta
    quiet: tuple[time, time] | None
    same_product: timedelta
    near_duplicate: timedelta
    near_duplicate_bits: int  # -1: rule off


@dataclass(frozen=True, slots=True)
class RecentPost:
    at: datetime
    product_id: int
    fingerprint: int | None


@dataclass(frozen=True, slots=True)
class Candidate:
    product_id: int
    fingerprint: int | None


@dataclass(frozen=True, slots=True)
class Decision:
    """`allowed` now, or the first `rule` broken, a readable `reason` and `not_before`."""

    allowed: bool
    not_before: datetime
    rule: str | None = None
    reason: str | None = None


def rules_of(rules: PolicyRules) -> Rules:
    quiet = None
    if rules.quiet_hours:
        start, end = (time.fromisoformat(p) for p in rules.quiet_hours.split("-"))
        quiet = None if start == end else (start, end)
    return Rules(
        max_posts_per_24h=rules.max_posts_per_24h,
        min_gap=timedelta(seconds=rules.min_gap_s),
        quiet=quiet,
        same_product=timedelta(days=rules.same_product_days),
        near_duplicate=timedelta(days=rules.near_duplicate_days),
        near_duplicate_bits=rules.near_duplicate_bits,
    )


def lookback(rules: Rules) -> timedelta:
    """How far back the snapshot of recent posts must reach."""
    spans = [DAY if rules.max_posts_per_24h else timedelta(0), rules.min_gap, rules.same_product]
    if rules.near_duplicate_bits >= 0:
        spans.append(rules.near_duplicate)
    return max(spans)


def _local(day: date, wall: time, tz: tzinfo) -> datetime:
    """The instant of a wall-clock time; a time skipped by a DST jump maps past the gap."""
    return datetime.combine(day, wall, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def quiet_until(at: datetime, quiet: tuple[time, time], tz: tzinfo) -> datetime | None:
    """When the quiet hours around `at` end, or ``None`` when `at` is not inside them."""
    start, end = quiet
    local = at.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= wall < end, local.date()
    else:  # spans midnight
        inside = wall >= start or wall < end
        end_day = local.date() + timedelta(days=1) if wall >= start else local.date()
    if not inside:
        return None
    until = _local(end_day, end, tz)
    return until if until > at else at + timedelta(minutes=1)


def _earliest(
    rule: str,
    at: datetime,
    rules: Rules,
    recent: Sequence[RecentPost],
    cand: Candidate,
    tz: tzinfo,
) -> datetime | None:
    """The earliest time ≥ `at` that `rule` allows, or ``None`` if it allows `at`."""
    if rule == "quiet_hours":
        return quiet_until(at, rules.quiet, tz) if rules.quiet else None
    if rule == "max_posts_per_24h":
        cap = rules.max_posts_per_24h
        inside = sorted(p.at for p in recent if at - DAY < p.at <= at)
        return inside[len(inside) - cap] + DAY if cap and len(inside) >= cap else None
    if rule == "min_gap":
        last = max((p.at for p in recent if p.at <= at), default=None)
        return last + rules.min_gap if last and at < last + rules.min_gap else None
    if rule == "same_product":
        times = [p.at for p in recent if p.product_id == cand.product_id]
        last = max(times, default=None)
        return last + rules.same_product if last and at < last + rules.same_product else None
    if rule == "near_duplicate":
        if rules.near_duplicate_bits < 0 or cand.fingerprint is None:
            return None
        times = [
            p.at
            for p in recent
            if p.fingerprint is not None
            and distance(p.fingerprint, cand.fingerprint) <= rules.near_duplicate_bits
        ]
        last = max(times, default=None)
        return last + rules.near_duplicate if last and at < last + rules.near_duplicate else None
    raise ValueError(rule)


_RULES = ("max_posts_per_24h", "min_gap", "same_product", "near_duplicate", "quiet_hours")


def decide(
    rules: Rules,
    recent: Sequence[RecentPost],
    candidate: Candidate,
    now: datetime,
    tz: tzinfo,
) -> Decision:
    """Allowed now, or the next time every rule allows and the first rule that said no."""
    first: tuple[str, datetime] | None = None
    at = now
    for _ in range(_MAX_ROUNDS):
        moved = False
        for rule in _RULES:
            later = _earliest(rule, at, rules, recent, candidate, tz)
            if later is not None and later > at:
                if first is None:
                    first = (rule, later)
                at, moved = later, True
        if not moved:
            break
    if first is None:
        return Decision(allowed=True, not_before=now)
    rule, _ = first
    return Decision(
        allowed=False,
        not_before=at,
        rule=rule,
        reason=f"{rule}: next allowed at {at.astimezone(ZoneInfo('UTC')).isoformat()}",
    )
