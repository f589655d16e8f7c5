"""The single entry point: journeys in, credits out, for one model or several.

``attribute(journeys, model)`` cuts every journey to the lookback window, encodes the journeys
once, runs each requested model and returns their credits in one list (model after model,
then journey after journey, then touchpoint after touchpoint). Only positive credits are
returned: first touch gives one credit per conversion, not one per touchpoint.

Guarantees, for every model: each credit's weight and value are > 0; the weights of a
conversion with at least one touchpoint in the window sum to 1 and its values to the
conversion's value (up to floating-point rounding); a conversion with no touchpoint in the
window gets no credit; a channel key that appears in no journey gets nothing; the same input
gives the same output (the sampled Shapley model is seeded).

The data-driven models (``markov``, ``shapley``) score every channel on all the journeys given
(and, for Markov, the non-converting paths) and then split each conversion in proportion to
the scores of its touchpoints' channels; a conversion whose channels all score 0 is split
linearly. Pass the journeys of a whole period, not one conversion at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from attribution.models._batch import (
    FloatArray,
    JourneyBatch,
    distribute_by_score,
    encode,
    to_credits,
)
from attribution.models.heuristics import heuristic_weights
from attribution.models.journeys import DEFAULT_LOOKBACK, Credit, Journey
from attribution.models.markov import markov_scores
from attribution.models.shapley import shapley_scores
from attribution.models.specs import Markov, ModelSpec, Shapley, model_spec

__all__ = ["attribute", "model_weights"]


def _spec(model: ModelSpec | str) -> ModelSpec:
    return model_spec(model) if isinstance(model, str) else model


def model_weights(batch: JourneyBatch, spec: ModelSpec) -> FloatArray:
    """One weight per touchpoint of ``batch`` under ``spec`` (columnar; no ``Credit`` built)."""
    if isinstance(spec, Markov):
        return distribute_by_score(batch, markov_scores(batch, spec))
    if isinstance(spec, Shapley):
        return distribute_by_score(batch, shapley_scores(batch, spec))
    return heuristic_weights(batch, spec)


def attribute(
    journeys: Iterable[Journey],
    model: ModelSpec | str | Sequence[ModelSpec | str],
    *,
    non_converting_paths: Iterable[Sequence[str]] = (),
    lookback: timedelta | None = DEFAULT_LOOKBACK,
) -> list[Credit]:
    """Credits of ``journeys`` under ``model`` (a spec, a registry name, or a sequence of them).

    ``non_converting_paths`` are the channel-key sequences of journeys that did not convert;
    only the Markov model uses them. ``lookback=None`` keeps every touchpoint up to the
    conversion. Two models with the same name in one call are refused (their credits could
    not be told apart).
    """
    models = [model] if isinstance(model, str | ModelSpec) else list(model)
    specs = [_spec(m) for m in models]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"each model may appear once per call, got {names}")
    batch = encode(journeys, non_converting_paths, lookback)
    credits: list[Credit] = []
    for spec in specs:
        credits.extend(to_credits(batch, spec.name, model_weights(batch, spec)))
    return credits
