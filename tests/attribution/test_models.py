"""The public surface, the data types, the lookback window and the five rule-based models."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import attribution.models as models
from attribution.models import (
    MODELS,
    Credit,
    FirstTouch,
    Journey,
    LastTouch,
    Linear,
    Markov,
    PositionBased,
    Shapley,
    TimeDecay,
    Touchpoint,
    apply_lookback,
    attribute,
    model_spec,
    within_lookback,
)

from ._journeys import T0, by_touchpoint, journey

EXPECTED_ALL = {
    "DEFAULT_LOOKBACK", "MODELS", "Credit", "FirstTouch", "Journey", "LastTouch", "Linear",
    "Markov", "Measure", "ModelSpec", "PositionBased", "RemovalEffects", "Shapley",
    "ShapleyValues", "TimeDecay", "Touchpoint", "apply_lookback", "attribute", "model_spec",
    "removal_effects", "shapley_values", "within_lookback",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(models.__all__) == EXPECTED_ALL
    for name in models.__all__:
        assert hasattr(models, name), name


def test_registry_names() -> None:
    assert list(MODELS) == [
        "first_touch", "last_touch", "linear", "time_decay", "position_based", "markov",
        "shapley",
    ]  # fmt: skip
    assert model_spec("time_decay", half_life=3600) == TimeDecay(timedelta(hours=1))
    assert model_spec("markov", order=3) == Markov(order=3)
    with pytest.raises(ValueError, match="unknown model"):
        model_spec("u_shaped")
    with pytest.raises(TypeError):
        model_spec("linear", half_life=1)


def test_models_package_imports_nothing_impure() -> None:
    allowed = {
        "__future__", "collections", "contextlib", "dataclasses", "datetime", "gc",
        "itertools", "math", "types", "typing", "numpy", "attribution",
    }  # fmt: skip
    root = Path(models.__file__).parent
    seen = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                seen |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                seen.add(node.module.split(".")[0])
    assert seen <= allowed, seen - allowed


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Touchpoint("t", "a", datetime(2025, 1, 1)),
        lambda: Touchpoint("t", "", T0),
        lambda: Journey("c", -1.0, T0),
        lambda: Journey("c", float("nan"), T0),
        lambda: Journey("c", 1.0, datetime(2025, 1, 1)),
        lambda: journey("c", ["a", "b"], ages=[timedelta(hours=1), timedelta(hours=2)]),
        lambda: TimeDecay(timedelta(0)),
        lambda: PositionBased(0.7, 0.4),
        lambda: PositionBased(-0.1, 0.4),
        lambda: Markov(order=4),
        lambda: Shapley(permutations=1),
    ],
)
def test_invalid_values_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


def test_lookback_keeps_window_and_drops_after_conversion() -> None:
    j = journey(
        "c1", ["a", "b", "c", "d"],
        ages=[timedelta(days=31), timedelta(days=30), timedelta(days=2), timedelta(0)],
    )  # fmt: skip
    later = Touchpoint("late", "e", T0 + timedelta(seconds=1))
    j = Journey(j.conversion_id, j.value, j.converted_at, (*j.touchpoints, later))
    assert [tp.channel for tp in within_lookback(j).touchpoints] == ["b", "c", "d"]
    assert [tp.channel for tp in within_lookback(j, timedelta(days=3)).touchpoints] == ["c", "d"]
    assert [tp.channel for tp in within_lookback(j, None).touchpoints] == ["a", "b", "c", "d"]
    assert apply_lookback([j], timedelta(days=1))[0].touchpoints[0].channel == "d"
    same = journey("c2", ["a"])
    assert within_lookback(same) is same
    # attribute applies the same window
    credits = attribute([j], "linear")
    assert sorted(c.channel for c in credits) == ["b", "c", "d"]
    assert attribute([j], "linear", lookback=timedelta(hours=1))[0].value == pytest.approx(1.0)


def test_first_and_last_touch() -> None:
    js = [journey("c1", ["a", "b", "c"], 30.0), journey("c2", ["b"], 5.0)]
    credits = attribute(js, [FirstTouch(), LastTouch()])
    assert credits == [
        Credit("c1", "c1/0", "a", "first_touch", 1.0, 30.0),
        Credit("c2", "c2/0", "b", "first_touch", 1.0, 5.0),
        Credit("c1", "c1/2", "c", "last_touch", 1.0, 30.0),
        Credit("c2", "c2/0", "b", "last_touch", 1.0, 5.0),
    ]


def test_linear_counts_every_touchpoint() -> None:
    credits = attribute([journey("c1", ["a", "b", "a", "c"], 20.0)], Linear())
    assert by_touchpoint(credits) == {"c1/0": 5.0, "c1/1": 5.0, "c1/2": 5.0, "c1/3": 5.0}
    assert {c.weight for c in credits} == {0.25}


def test_time_decay_halves_per_half_life() -> None:
    ages = [timedelta(days=14), timedelta(days=7), timedelta(0)]
    j = journey("c1", ["a", "b", "c"], 70.0, ages=ages)
    # raw weights 1/4, 1/2, 1 → 1/7, 2/7, 4/7
    assert by_touchpoint(attribute([j], TimeDecay())) == pytest.approx(
        {"c1/0": 10.0, "c1/1": 20.0, "c1/2": 40.0}
    )
    # half-life of 1 day: 2^-14, 2^-7, 1 ; relative to the youngest touchpoint
    total = 2**-14 + 2**-7 + 1
    got = by_touchpoint(attribute([j], TimeDecay(timedelta(days=1))))
    assert got == pytest.approx({"c1/0": 70 * 2**-14 / total, "c1/1": 70 * 2**-7 / total,
                                 "c1/2": 70 / total})  # fmt: skip
    old = journey("c2", ["a", "b"], 1.0, ages=[timedelta(days=3001), timedelta(days=3000)])
    assert by_touchpoint(attribute([old], TimeDecay(timedelta(hours=1)), lookback=None)) == (
        pytest.approx({"c2/0": 2**-24 / (1 + 2**-24), "c2/1": 1 / (1 + 2**-24)})
    )


def test_position_based() -> None:
    js = [
        journey("one", ["a"], 10.0),
        journey("two", ["a", "b"], 10.0),
        journey("five", ["a", "b", "c", "d", "e"], 100.0),
    ]
    got = by_touchpoint(attribute(js, PositionBased()))
    assert got == pytest.approx({
        "one/0": 10.0,
        "two/0": 5.0, "two/1": 5.0,
        "five/0": 40.0, "five/1": 20 / 3, "five/2": 20 / 3, "five/3": 20 / 3, "five/4": 40.0,
    })  # fmt: skip
    skewed = by_touchpoint(attribute(js, PositionBased(first=0.3, last=0.5)))
    assert skewed["two/0"] == pytest.approx(10 * 0.3 / 0.8)
    assert skewed["two/1"] == pytest.approx(10 * 0.5 / 0.8)
    assert skewed["five/2"] == pytest.approx(100 * 0.2 / 3)
    ends_only = attribute(js, PositionBased(first=0.5, last=0.5))
    assert {c.touchpoint_id for c in ends_only} == {"one/0", "two/0", "two/1", "five/0", "five/4"}
    middle_only = by_touchpoint(attribute(js, PositionBased(first=0.0, last=0.0)))
    assert middle_only["two/0"] == middle_only["two/1"] == pytest.approx(5.0)
    assert middle_only["five/2"] == pytest.approx(100 / 3)


def test_conversion_without_touchpoints_gets_no_credit() -> None:
    js = [journey("empty", []), journey("c1", ["a"], 2.0)]
    for name in MODELS:
        credits = attribute(js, name, non_converting_paths=[("a",), ("b",)])
        assert [(c.conversion_id, c.value) for c in credits] == [("c1", 2.0)], name


def test_several_models_in_one_call_and_duplicates_refused() -> None:
    js = [journey("c1", ["a", "b"], 4.0)]
    credits = attribute(js, ["first_touch", Linear(), Markov(order=2)])
    assert [c.model for c in credits] == ["first_touch", "linear", "linear", "markov", "markov"]
    with pytest.raises(ValueError, match="once per call"):
        attribute(js, [Markov(), Markov(order=2)])
    assert attribute([], list(MODELS)) == []
