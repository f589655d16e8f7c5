"""The policy gate as pure functions: each rule, their combination, and DST nights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.config import PolicyRules, PolicySettings
from hub.publishing.policy import Candidate, RecentPost, decide, quiet_until, rules_of
from hub.publishing.similarity import distance, fingerprint

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
OFF = {
    "max_posts_per_24h": 0,
    "min_gap_s": 0,
    "quiet_hours": "",
    "same_product_days": 0,
    "near_duplicate_bits": -1,
}


def rules(**kw: object) -> PolicyRules:
    return PolicyRules.model_validate({**OFF, **kw})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def post(when: datetime, product: int = 1, text: str | None = None) -> RecentPost:
    return RecentPost(at=when, product_id=product, fingerprint=fingerprint(text) if text else None)


CAND = Candidate(product_id=99, fingerprint=None)


def test_nothing_recent_is_allowed_now() -> None:
    now = at("2026-06-01T12:00:00+00:00")
    decision = decide(rules_of(PolicySettings().for_kind("telegram")), [], CAND, now, UTC)
    assert decision.allowed and decision.not_before == now


def test_min_gap_defers_to_the_end_of_the_gap() -> None:
    now = at("2026-06-01T12:00:00+00:00")
    d = decide(rules_of(rules(min_gap_s=1800)), [post(now - timedelta(minutes=10))], CAND, now, UTC)
    assert not d.allowed and d.rule == "min_gap"
    assert d.not_before == now + timedelta(minutes=20)


def test_daily_cap_frees_a_slot_when_the_oldest_post_leaves_the_window() -> None:
    now = at("2026-06-01T12:00:00+00:00")
    recent = [post(now - timedelta(hours=h)) for h in (1, 5, 20, 30)]
    d = decide(rules_of(rules(max_posts_per_24h=3)), recent, CAND, now, UTC)
    assert not d.allowed and d.rule == "max_posts_per_24h"
    assert d.not_before == now - timedelta(hours=20) + timedelta(hours=24)
    assert decide(rules_of(rules(max_posts_per_24h=4)), recent, CAND, now, UTC).allowed


def test_same_product_waits_n_days_other_products_do_not() -> None:
    now = at("2026-06-01T12:00:00+00:00")
    recent = [post(now - timedelta(days=2), product=7)]
    same = decide(rules_of(rules(same_product_days=3)), recent, Candidate(7, None), now, UTC)
    assert not same.allowed and same.rule == "same_product"
    assert same.not_before == now + timedelta(days=1)
    assert decide(
        rules_of(rules(same_product_days=3)), recent, Candidate(8, None), now, UTC
    ).allowed


def test_near_duplicate_text_ignores_the_link_and_waits() -> None:
    now = at("2026-06-01T12:00:00+00:00")
    text = "Blue mug, sturdy stoneware for coffee and tea, dishwasher safe. Only 12.50 EUR"
    recent = [post(now - timedelta(days=1), product=1, text=text + " https://go.test/aaa")]
    near = Candidate(2, fingerprint(text + " https://go.test/bbb"))
    other = Candidate(2, fingerprint("Red teapot with bamboo handle, brews four cups at once"))
    r = rules_of(rules(near_duplicate_days=7, near_duplicate_bits=3))
    d = decide(r, recent, near, now, UTC)
    assert not d.allowed and d.rule == "near_duplicate"
    assert d.not_before == now + timedelta(days=6)
    assert decide(r, recent, other, now, UTC).allowed


def test_simhash_distance_grows_with_difference() -> None:
    a = fingerprint("the quick brown fox jumps over the lazy dog near the river bank today")
    b = fingerprint("the quick brown fox jumps over the lazy dog near the river bank tonight")
    c = fingerprint("completely unrelated words about shipping containers and harbour cranes")
    assert a is not None and b is not None and c is not None
    assert distance(a, b) < distance(a, c)
    assert fingerprint("   ") is None


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        # An ordinary night in New York (EST, UTC-5): 08:00 local is 13:00 UTC.
        ("2026-03-07T05:30:00+00:00", NY, "2026-03-07T13:00:00+00:00"),
        # Spring forward (2026-03-08 02:00 → 03:00): 08:00 EDT is 12:00 UTC, not 13:00.
        ("2026-03-08T05:30:00+00:00", NY, "2026-03-08T12:00:00+00:00"),
        # Fall back (2026-11-01 02:00 → 01:00): 08:00 EST is 13:00 UTC, not 12:00.
        ("2026-11-01T05:30:00+00:00", NY, "2026-11-01T13:00:00+00:00"),
        # Berlin, the evening before spring forward (23:00 CET) → 08:00 CEST = 06:00 UTC.
        ("2026-03-28T22:00:00+00:00", BERLIN, "2026-03-29T06:00:00+00:00"),
        # Berlin, after midnight on fall-back night, inside the repeated hour.
        ("2026-10-25T00:30:00+00:00", BERLIN, "2026-10-25T07:00:00+00:00"),
    ],
)
def test_quiet_hours_end_at_local_wall_time_across_dst(
    now: str, tz: ZoneInfo, expected: str
) -> None:
    d = decide(rules_of(rules(quiet_hours="22:00-08:00")), [], CAND, at(now), tz)
    assert not d.allowed and d.rule == "quiet_hours"
    assert d.not_before == at(expected)
    assert d.not_before.astimezone(tz).hour == 8


def test_quiet_hours_ending_inside_a_skipped_hour_end_after_the_gap() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29; quiet until 02:30 ends at 03:30 CEST.
    until = quiet_until(
        at("2026-03-29T00:15:00+00:00"),
        rules_of(rules(quiet_hours="01:00-02:30")).quiet or (),
        BERLIN,
    )  # type: ignore[arg-type]
    assert until == at("2026-03-29T01:30:00+00:00")
    assert until.astimezone(BERLIN).hour == 3


def test_outside_quiet_hours_is_allowed() -> None:
    now = at("2026-03-08T16:00:00+00:00")  # 12:00 EDT
    assert decide(rules_of(rules(quiet_hours="22:00-08:00")), [], CAND, now, NY).allowed


def test_rules_combine_to_the_first_time_every_rule_allows() -> None:
    # 21:50 local, last post 21:40 with a 30-minute gap → 22:10, inside quiet hours → 08:00.
    now = at("2026-06-01T21:50:00-04:00")
    recent = [post(now - timedelta(minutes=10))]
    r = rules_of(rules(min_gap_s=1800, quiet_hours="22:00-08:00"))
    d = decide(r, recent, CAND, now, NY)
    assert not d.allowed and d.rule == "min_gap"
    assert d.not_before == at("2026-06-02T08:00:00-04:00")


def test_per_kind_and_per_account_overrides() -> None:
    policy = PolicySettings(min_gap_s=100, kinds={"telegram": {"min_gap_s": 200}})
    assert policy.for_kind("discord").min_gap_s == 100
    assert policy.for_kind("telegram").min_gap_s == 200
    assert policy.for_kind("telegram", {"min_gap_s": 5}).min_gap_s == 5
    with pytest.raises(ValueError):
        PolicySettings(kinds={"telegram": {"min_gap_s": -1}})
