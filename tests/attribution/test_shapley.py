"""The Shapley model: a hand-computed game, the closed form, and sampled against exact."""

from __future__ import annotations

import string

import pytest

from attribution.models import Shapley, ShapleyValues, attribute, shapley_values

from ._journeys import by_touchpoint, journey, random_journeys


def closed_form(journeys: list, measure: str = "conversions") -> dict[str, float]:  # type: ignore[type-arg]
    """φ_c = Σ over journeys containing c of m(j) / |distinct channels of j|."""
    out: dict[str, float] = {}
    for j in journeys:
        channels = {tp.channel for tp in j.touchpoints}
        for c in channels:
            worth = 1.0 if measure == "conversions" else j.value
            out[c] = out.get(c, 0.0) + worth / len(channels)
    return out


def test_hand_computed_game() -> None:
    # v({a})=1, v({a,b})=2, v({a,c})=1, v({b,c})=1, v({a,b,c})=3, others 0.
    # over the 6 orders a adds 1,1,2,2,1,2 → 3/2; b adds 0,2,0,0,2,1 → ... → 1; c → 1/2
    js = [journey("c1", ["a"], 2.0), journey("c2", ["a", "b", "a"], 10.0),
          journey("c3", ["b", "c"], 6.0)]  # fmt: skip
    sv = shapley_values(js)
    assert sv.exact and sv.permutations == 0
    assert dict(sv.values) == pytest.approx({"a": 1.5, "b": 1.0, "c": 0.5})
    assert set(sv.std_error.values()) == {0.0}
    # c2 (a, b, a) is split 1.5 : 1 : 1.5 per touchpoint; c3 (b, c) 1 : 0.5
    assert by_touchpoint(attribute(js, Shapley())) == pytest.approx({
        "c1/0": 2.0, "c2/0": 3.75, "c2/1": 2.5, "c2/2": 3.75, "c3/0": 4.0, "c3/1": 2.0,
    })  # fmt: skip
    by_value = shapley_values(js, measure="value")
    assert dict(by_value.values) == pytest.approx({"a": 2 + 5, "b": 5 + 3, "c": 3})


@pytest.mark.parametrize("measure", ["conversions", "value"])
def test_exact_enumeration_equals_the_closed_form(measure: str) -> None:
    channels = list(string.ascii_lowercase[:12])
    js, _ = random_journeys(3, 400, 0, channels, max_len=8)
    sv = shapley_values(js, measure=measure)  # type: ignore[arg-type]
    assert sv.exact
    assert dict(sv.values) == pytest.approx(closed_form(js, measure), rel=1e-9)
    assert sum(sv.values.values()) == pytest.approx(
        len(js) if measure == "conversions" else sum(j.value for j in js)
    )


def assert_close_to_exact(sampled: ShapleyValues, exact: dict[str, float]) -> None:
    assert not sampled.exact
    for channel, value in exact.items():
        error = sampled.std_error[channel]
        assert error > 0
        assert abs(sampled.values[channel] - value) <= 5 * error + 1e-9, channel
    assert sum(sampled.values.values()) == pytest.approx(sum(exact.values()))


def test_sampled_is_close_to_exact_when_forced() -> None:
    js, _ = random_journeys(5, 300, 0, list("abcdefgh"), max_len=5)
    exact = shapley_values(js)
    sampled = shapley_values(js, max_exact_channels=0, permutations=3000, seed=1)
    assert sampled.permutations == 3000
    assert_close_to_exact(sampled, dict(exact.values))
    assert shapley_values(js, max_exact_channels=0, permutations=3000, seed=1) == sampled


def test_more_than_twelve_channels_are_sampled_with_an_error_bound() -> None:
    channels = list(string.ascii_lowercase[:16])
    js, _ = random_journeys(11, 500, 0, channels, max_len=6)
    sampled = shapley_values(js, permutations=2000)
    assert_close_to_exact(sampled, closed_form(js))
    credits = attribute(js, Shapley(permutations=500))
    assert {c.conversion_id for c in credits} == {j.conversion_id for j in js}
