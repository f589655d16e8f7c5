"""Attribution models: pure functions from journeys to credits (no I/O, no ORM).

Start with :func:`attribute`::

    credits = attribute(journeys, ["last_touch", Markov(order=2)],
                        non_converting_paths=paths, lookback=timedelta(days=30))

The modules, one idea each: ``journeys`` (the data types and the lookback window), ``specs``
(model parameters and the registry), ``heuristics`` (the five rule-based models), ``markov``
(removal effects of an absorbing chain), ``shapley`` (Shapley values), ``attribute`` (the
entry point) and ``_batch`` (the columnar encoding they share).
"""

from __future__ import annotations

from attribution.models.attribute import attribute
from attribution.models.journeys import (
    DEFAULT_LOOKBACK,
    Credit,
    Journey,
    Touchpoint,
    apply_lookback,
    within_lookback,
)
from attribution.models.markov import RemovalEffects, removal_effects
from attribution.models.shapley import ShapleyValues, shapley_values
from attribution.models.specs import (
    MODELS,
    FirstTouch,
    LastTouch,
    Linear,
    Markov,
    Measure,
    ModelSpec,
    PositionBased,
    Shapley,
    TimeDecay,
    model_spec,
)

__all__ = [
    "DEFAULT_LOOKBACK",
    "MODELS",
    "Credit",
    "FirstTouch",
    "Journey",
    "LastTouch",
    "Linear",
    "Markov",
    "Measure",
    "ModelSpec",
    "PositionBased",
    "RemovalEffects",
    "Shapley",
    "ShapleyValues",
    "TimeDecay",
    "Touchpoint",
    "apply_lookback",
    "attribute",
    "model_spec",
    "removal_effects",
    "shapley_values",
    "within_lookback",
]
