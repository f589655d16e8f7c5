"""The five rule-based models, vectorised over a :class:`JourneyBatch`.

Each function returns one weight per touchpoint; the weights of a journey with at least one
touchpoint sum to 1. Rules (``L`` is the number of touchpoints of the journey, ``i`` the
position, 0-based):

first touch      ``w_i = [i == 0]``
last touch       ``w_i = [i == L - 1]``
linear           ``w_i = 1 / L``  (a channel touched twice gets two shares)
time decay       ``w_i ∝ 2 ** (-age_i / half_life)``, ``age_i`` = time from touchpoint to
                 conversion. Computed relative to the youngest touchpoint of the journey so
                 that old journeys do not underflow to zero.
position based   ``L == 1``: 1. ``L == 2``: ``first / (first + last)`` and
                 ``last / (first + last)`` (0.5 each when both are 0). ``L >= 3``: ``first``,
                 ``last``, and ``(1 - first - last) / (L - 2)`` for each middle touchpoint.
"""

from __future__ import annotations

import numpy as np

from attribution.models._batch import FloatArray, JourneyBatch, normalise
from attribution.models.specs import (
    FirstTouch,
    LastTouch,
    Linear,
    ModelSpec,
    PositionBased,
    TimeDecay,
)

__all__ = [
    "first_touch_weights",
    "heuristic_weights",
    "last_touch_weights",
    "linear_weights",
    "position_based_weights",
    "time_decay_weights",
]


def first_touch_weights(batch: JourneyBatch) -> FloatArray:
    weights: FloatArray = (batch.position == 0).astype(np.float64)
    return weights


def last_touch_weights(batch: JourneyBatch) -> FloatArray:
    last = batch.offsets[1:] - 1
    weights = np.zeros(len(batch.codes), dtype=np.float64)
    weights[last[batch.lengths > 0]] = 1.0
    return weights


def linear_weights(batch: JourneyBatch) -> FloatArray:
    lengths = batch.lengths.astype(np.float64)
    return np.asarray(1.0 / lengths[batch.journey_index], dtype=np.float64)


def time_decay_weights(batch: JourneyBatch, spec: TimeDecay) -> FloatArray:
    if not len(batch.codes):
        return np.zeros(0, dtype=np.float64)
    journey_of = batch.journey_index
    youngest = np.full(len(batch.journeys), np.inf)
    np.minimum.at(youngest, journey_of, batch.age_s)
    relative = batch.age_s - youngest[journey_of]
    raw = np.exp2(-relative / spec.half_life.total_seconds())
    return normalise(batch, raw)


def position_based_weights(batch: JourneyBatch, spec: PositionBased) -> FloatArray:
    lengths = batch.lengths[batch.journey_index]
    position = batch.position
    is_first = position == 0
    is_last = position == lengths - 1
    ends = spec.first + spec.last
    middle = (1.0 - ends) / np.maximum(lengths - 2, 1).astype(np.float64)
    weights = np.where(is_first, spec.first, np.where(is_last, spec.last, middle))
    two = lengths == 2
    if ends > 0.0:
        weights = np.where(two, weights / ends, weights)
    else:
        weights = np.where(two, 0.5, weights)
    weights = np.where(lengths == 1, 1.0, weights)
    return np.asarray(weights, dtype=np.float64)


def heuristic_weights(batch: JourneyBatch, spec: ModelSpec) -> FloatArray:
    """Weights of the rule-based model ``spec``; ``TypeError`` for a data-driven one."""
    if isinstance(spec, FirstTouch):
        return first_touch_weights(batch)
    if isinstance(spec, LastTouch):
        return last_touch_weights(batch)
    if isinstance(spec, Linear):
        return linear_weights(batch)
    if isinstance(spec, TimeDecay):
        return time_decay_weights(batch, spec)
    if isinstance(spec, PositionBased):
        return position_based_weights(batch, spec)
    raise TypeError(f"{spec.name} is not a rule-based model")
