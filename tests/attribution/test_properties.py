"""Properties every model keeps, on journeys drawn by hypothesis."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.models import (
    Journey,
    Markov,
    ModelSpec,
    PositionBased,
    Shapley,
    TimeDecay,
    attribute,
    model_spec,
    removal_effects,
    shapley_values,
)

from ._journeys import journey

SPECS: list[ModelSpec] = [model_spec(name) for name in (
    "first_touch", "last_touch", "linear", "time_decay", "position_based", "markov", "shapley",
)] + [
    TimeDecay(timedelta(hours=1)), PositionBased(0.3, 0.5), PositionBased(0.5, 0.5),
    Markov(order=2), Markov(order=3, measure="value"), Shapley(measure="value"),
    Shapley(max_exact_channels=0, permutations=50, seed=3),
]  # fmt: skip

channel = st.sampled_from(["a", "b", "c", "d", "e"])


@st.composite
def journeys(draw: st.DrawFn) -> list[Journey]:
    out = []
    for k in range(draw(st.integers(0, 8))):
        channels = draw(st.lists(channel, max_size=6))
        gaps = draw(st.lists(st.integers(0, 20 * 24), min_size=len(channels),
                             max_size=len(channels)))  # fmt: skip
        ages, age = [], 0
        for gap in reversed(gaps):
            age += gap
            ages.append(timedelta(hours=age))
        value = draw(st.floats(0, 1e6, allow_nan=False) | st.just(0.0))
        out.append(journey(f"c{k}", channels, value, ages=ages[::-1]))
    return out


null_paths = st.lists(st.lists(st.sampled_from(["a", "b", "f"]), min_size=1, max_size=5))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: repr(s))
@settings(max_examples=60, deadline=None)
@given(js=journeys(), nulls=null_paths, seed=st.integers(0, 2**16))
def test_credits_are_non_negative_complete_and_deterministic(
    spec: ModelSpec, js: list[Journey], nulls: list[list[str]], seed: int
) -> None:
    credits = attribute(js, spec, non_converting_paths=nulls)
    weight: dict[str, float] = defaultdict(float)
    value: dict[str, float] = defaultdict(float)
    for c in credits:
        assert c.weight > 0 and c.value >= 0 and c.model == spec.name
        weight[c.conversion_id] += c.weight
        value[c.conversion_id] += c.value
    kept = {j.conversion_id: j for j in js if any(
        tp.at >= j.converted_at - timedelta(days=30) for tp in j.touchpoints
    )}  # fmt: skip
    assert set(weight) == set(kept)
    for cid, j in kept.items():
        assert weight[cid] == pytest.approx(1.0, rel=1e-9)
        assert value[cid] == pytest.approx(j.value, rel=1e-9, abs=1e-9)
    # the channels of the credits are channels of the journeys: "f" (only in non-converting
    # paths) and every channel absent from all journeys get nothing
    seen = {tp.channel for j in js for tp in j.touchpoints}
    assert {c.channel for c in credits} <= seen
    assert "f" not in {c.channel for c in credits}
    # the same input gives the same output, whatever the order of journeys and paths
    assert attribute(js, spec, non_converting_paths=nulls) == credits
    shuffled, shuffled_nulls = list(js), list(nulls)
    random.Random(seed).shuffle(shuffled)
    random.Random(seed).shuffle(shuffled_nulls)
    again = attribute(shuffled, spec, non_converting_paths=shuffled_nulls)
    again.sort(key=lambda c: c.touchpoint_id)
    ordered = sorted(credits, key=lambda c: c.touchpoint_id)
    assert [c.touchpoint_id for c in again] == [c.touchpoint_id for c in ordered]
    assert [c.value for c in again] == pytest.approx([c.value for c in ordered], rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(js=journeys(), nulls=null_paths, order=st.sampled_from([1, 2, 3]))
def test_scores_are_bounded_and_cover_only_seen_channels(
    js: list[Journey], nulls: list[list[str]], order: int
) -> None:
    effects = removal_effects(js, nulls, order=order).effects
    seen = {tp.channel for j in js for tp in j.touchpoints} | {c for p in nulls for c in p}
    assert set(effects) <= seen
    assert all(0.0 <= e <= 1.0 for e in effects.values())
    sv = shapley_values(js)
    assert all(v >= 0 for v in sv.values.values())
    assert sum(sv.values.values()) == pytest.approx(
        sum(1 for j in js if any(
            tp.at >= j.converted_at - timedelta(days=30) for tp in j.touchpoints))
    )  # fmt: skip
