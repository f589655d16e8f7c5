"""Journeys in columns: the one place where Python objects become numpy arrays and back.

Every model works on a :class:`JourneyBatch`: the touchpoints of all journeys, inside the
lookback window, laid end to end (``codes``, ``age_s``) with ``offsets`` marking where each
journey starts, plus the non-converting paths in the same layout. Channel codes index the
sorted tuple ``channels``, so results never depend on the order of the input.

A model returns one weight per touchpoint (each journey's weights sum to 1, or all are 0 when a
journey has no touchpoint); :func:`to_credits` turns weights into :class:`Credit` values.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import compress, repeat

import numpy as np
from numpy.typing import NDArray

from attribution.models.journeys import Credit, Journey, Touchpoint

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class JourneyBatch:
    """Converting journeys and non-converting paths, encoded once and shared by all models."""

    journeys: tuple[Journey, ...]
    touchpoints: tuple[Touchpoint, ...]  # kept touchpoints, journey after journey
    channels: tuple[str, ...]  # sorted; a code is an index into it
    codes: IntArray  # channel code per kept touchpoint
    offsets: IntArray  # len(journeys) + 1; journey j is codes[offsets[j]:offsets[j + 1]]
    age_s: FloatArray  # seconds from touchpoint to conversion, >= 0
    values: FloatArray  # conversion value per journey
    null_codes: IntArray  # channel codes of non-converting paths, end to end
    null_offsets: IntArray

    @property
    def lengths(self) -> IntArray:
        return np.diff(self.offsets)

    @property
    def journey_index(self) -> IntArray:
        """The journey each kept touchpoint belongs to."""
        return np.repeat(np.arange(len(self.journeys), dtype=np.int64), self.lengths)

    @property
    def position(self) -> IntArray:
        """The position of each kept touchpoint inside its journey (0 = first)."""
        return np.arange(len(self.codes), dtype=np.int64) - self.offsets[self.journey_index]


def _offsets(lengths: Sequence[int] | IntArray) -> IntArray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    return offsets


def encode(
    journeys: Iterable[Journey],
    non_converting_paths: Iterable[Sequence[str]] = (),
    lookback: timedelta | None = timedelta(days=30),
) -> JourneyBatch:
    """Lay ``journeys`` (cut to ``lookback``) and ``non_converting_paths`` out in columns.

    The lookback rule is the one of :func:`~attribution.models.journeys.within_lookback`;
    non-converting paths are taken as given (the caller chooses their window).
    """
    if lookback is not None and lookback < timedelta(0):
        raise ValueError(f"lookback must be >= 0, got {lookback!r}")
    js = tuple(journeys)
    all_tps = [tp for journey in js for tp in journey.touchpoints]
    lengths = np.fromiter((len(j.touchpoints) for j in js), dtype=np.int64, count=len(js))
    n = len(all_tps)
    at_s = np.fromiter((tp.at.timestamp() for tp in all_tps), dtype=np.float64, count=n)
    converted_s = np.fromiter(
        (j.converted_at.timestamp() for j in js), dtype=np.float64, count=len(js)
    )
    journey_of = np.repeat(np.arange(len(js), dtype=np.int64), lengths)
    age_s = converted_s[journey_of] - at_s
    keep = age_s >= 0.0
    if lookback is not None:
        keep &= age_s <= lookback.total_seconds()
    if not keep.all():
        all_tps = list(compress(all_tps, keep.tolist()))
        age_s = age_s[keep]
        lengths = np.bincount(journey_of[keep], minlength=len(js)).astype(np.int64)

    null_paths = [tuple(path) for path in non_converting_paths]
    null_keys = [key for path in null_paths for key in path]
    tp_keys = [tp.channel for tp in all_tps]
    lookup: dict[str, int] = {}
    raw = np.fromiter(
        (lookup.setdefault(key, len(lookup)) for key in tp_keys + null_keys),
        dtype=np.int64,
        count=len(tp_keys) + len(null_keys),
    )
    names = sorted(lookup)
    remap = np.empty(len(names), dtype=np.int64)
    remap[[lookup[name] for name in names]] = np.arange(len(names), dtype=np.int64)
    codes = remap[raw] if len(raw) else raw
    return JourneyBatch(
        journeys=js,
        touchpoints=tuple(all_tps),
        channels=tuple(names),
        codes=codes[: len(tp_keys)],
        offsets=_offsets(lengths),
        age_s=age_s,
        values=np.fromiter((j.value for j in js), dtype=np.float64, count=len(js)),
        null_codes=codes[len(tp_keys) :],
        null_offsets=_offsets([len(path) for path in null_paths]),
    )


def journey_sums(batch: JourneyBatch, per_touchpoint: FloatArray) -> FloatArray:
    """Sum ``per_touchpoint`` over each journey's touchpoints."""
    return np.bincount(
        batch.journey_index, weights=per_touchpoint, minlength=len(batch.journeys)
    ).astype(np.float64)


def normalise(batch: JourneyBatch, raw: FloatArray) -> FloatArray:
    """Scale ``raw`` (>= 0) so each journey's weights sum to 1; all-zero journeys go linear."""
    sums = journey_sums(batch, raw)
    zero = sums <= 0.0
    if zero.any():
        raw = np.where(zero[batch.journey_index], 1.0, raw)
        sums = np.where(zero, batch.lengths.astype(np.float64), sums)
    return np.divide(raw, sums[batch.journey_index], dtype=np.float64)


def distribute_by_score(batch: JourneyBatch, channel_score: FloatArray) -> FloatArray:
    """Weights in proportion to each touchpoint's channel score (>= 0).

    A journey whose channels all score 0 is credited linearly instead, so that every
    conversion with at least one touchpoint is fully credited.
    """
    if len(channel_score) != len(batch.channels):
        raise ValueError("one score per channel is required")
    scores = np.clip(np.asarray(channel_score, dtype=np.float64), 0.0, None)
    return normalise(batch, scores[batch.codes])


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Millions of fresh ``Credit`` objects trigger collection after collection over every live
    object (journeys included), which costs twice the construction itself; credits hold only
    strings and floats, so they form no cycle and nothing is lost by collecting later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def to_credits(batch: JourneyBatch, model: str, weights: FloatArray) -> list[Credit]:
    """One :class:`Credit` per touchpoint with a positive weight, journey after journey."""
    journey_of = batch.journey_index
    positive = weights > 0.0
    values = weights * batch.values[journey_of]
    if positive.all():
        tps: Iterable[Touchpoint] = batch.touchpoints
        kept_journeys = journey_of.tolist()
    else:
        tps = compress(batch.touchpoints, positive.tolist())
        kept_journeys = journey_of[positive].tolist()
        weights, values = weights[positive], values[positive]
    tps = tuple(tps)
    conversion_ids = [j.conversion_id for j in batch.journeys]
    with _gc_paused():
        return list(
            map(
                Credit,
                [conversion_ids[j] for j in kept_journeys],
                [tp.touchpoint_id for tp in tps],
                [tp.channel for tp in tps],
                repeat(model),
                weights.tolist(),
                values.tolist(),
            )
        )
