"""The Markov model: removal effects solved by hand, orders 2 and 3, and the credits."""

from __future__ import annotations

import pytest

from attribution.models import Markov, attribute, removal_effects

from ._journeys import by_touchpoint, journey


def test_order_one_removal_effects_solved_by_hand() -> None:
    # converting: a>b (10), b (4); non-converting: a, b
    # start→a 1/2, start→b 1/2; a→b 1/2, a→null 1/2; b→conv 2/3, b→null 1/3
    # P(conv) = 1/2·1/2·2/3 + 1/2·2/3 = 1/2
    # without a: 1/2·2/3 = 1/3 → RE_a = 1 - (1/3)/(1/2) = 1/3 ; without b: 0 → RE_b = 1
    js = [journey("c1", ["a", "b"], 10.0), journey("c2", ["b"], 4.0)]
    nulls = [("a",), ("b",)]
    re = removal_effects(js, nulls)
    assert re.total == pytest.approx(0.5)
    assert dict(re.effects) == pytest.approx({"a": 1 / 3, "b": 1.0})
    assert re.shares() == pytest.approx({"a": 0.25, "b": 0.75})
    assert re.states == 2
    # the conversion a>b is split 1/3 : 1 → a 2.5, b 7.5; the conversion b is all b's
    credits = attribute(js, Markov(), non_converting_paths=nulls)
    assert by_touchpoint(credits) == pytest.approx({"c1/0": 2.5, "c1/1": 7.5, "c2/0": 4.0})


def test_value_measure_solved_by_hand() -> None:
    # a (10) and b (2) convert, nothing else: by conversions both are needed for half;
    # by value, total 1/2·10 + 1/2·2 = 6, without a 1 → RE_a = 5/6, without b 5 → RE_b = 1/6
    js = [journey("c1", ["a"], 10.0), journey("c2", ["b"], 2.0)]
    assert dict(removal_effects(js).effects) == pytest.approx({"a": 0.5, "b": 0.5})
    by_value = removal_effects(js, measure="value")
    assert by_value.total == pytest.approx(6.0)
    assert dict(by_value.effects) == pytest.approx({"a": 5 / 6, "b": 1 / 6})


def test_repeated_channel_self_loop_changes_nothing() -> None:
    js = [journey("c1", ["a", "b"]), journey("c2", ["b"])]
    looped = [journey("c1", ["a", "a", "a", "b"]), journey("c2", ["b", "b"])]
    nulls = [("a",), ("b",)]
    plain = removal_effects(js, nulls).effects
    assert dict(plain) == pytest.approx({"a": 1 / 3, "b": 1.0})
    assert dict(removal_effects(looped, nulls).effects) == pytest.approx(dict(plain))


def test_order_two_remembers_where_a_path_came_from() -> None:
    # a>b converts, c>b does not. Order 1 cannot tell the two b's apart; order 2 can.
    js = [journey("c1", ["a", "b"])]
    nulls = [("c", "b")]
    assert dict(removal_effects(js, nulls, order=1).effects) == pytest.approx(
        {"a": 0.5, "b": 1.0, "c": 0.5}
    )
    second = removal_effects(js, nulls, order=2)
    assert dict(second.effects) == pytest.approx({"a": 1.0, "b": 1.0, "c": 0.0})
    assert second.states == 4  # (a), (a,b), (c), (c,b)


def test_order_three_needs_three_steps_of_memory() -> None:
    js = [journey("c1", ["a", "x", "b"])]
    nulls = [("c", "x", "b")]
    two = removal_effects(js, nulls, order=2).effects
    three = removal_effects(js, nulls, order=3).effects
    assert two["c"] == pytest.approx(0.5)  # (x,b) is shared by both paths
    assert three["c"] == pytest.approx(0.0)
    assert three["a"] == pytest.approx(1.0)
    credits = attribute(js, Markov(order=3), non_converting_paths=nulls)
    assert by_touchpoint(credits) == pytest.approx({"c1/0": 1 / 3, "c1/1": 1 / 3, "c1/2": 1 / 3})
    # channel c scores 0 and a>c>... gets nothing for c; c only in non-converting paths
    assert all(c.channel != "c" for c in credits)


def test_channels_all_scoring_zero_fall_back_to_linear() -> None:
    # by value, z carries nothing (its only conversion is worth 0): RE_z = 0, and the
    # conversion whose touchpoints are all z is split linearly instead of not at all
    js = [journey("c1", ["a"], 3.0), journey("c9", ["z", "z", "z", "z"], 0.0)]
    effects = removal_effects(js, measure="value").effects
    assert effects == {"a": pytest.approx(1.0), "z": 0.0}
    credits = attribute(js, Markov(measure="value"))
    weights = {c.touchpoint_id: c.weight for c in credits}
    assert weights == {"c1/0": 1.0, "c9/0": 0.25, "c9/1": 0.25, "c9/2": 0.25, "c9/3": 0.25}


def test_no_conversion_value_means_no_effect() -> None:
    js = [journey("c1", ["a", "b"], 0.0)]
    assert dict(removal_effects(js, measure="value").effects) == {"a": 0.0, "b": 0.0}
    credits = attribute(js, Markov(measure="value"))
    assert [c.weight for c in credits] == [0.5, 0.5]
    assert dict(removal_effects([]).effects) == {}
