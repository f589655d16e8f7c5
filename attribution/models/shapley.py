"""Shapley-value attribution over channels.

The game. Players are the channel keys that appear in converting journeys (inside the
lookback window). The characteristic function is

    v(S) = sum of m(j) over converting journeys j whose set of channels is a subset of S

where ``m(j)`` is 1 (``measure="conversions"``) or the journey's value (``"value"``):
a coalition is worth the conversions it could have produced on its own. ``v`` is monotone
and ``v(∅) = 0``, so every marginal contribution, and every Shapley value, is >= 0, and the
values add up to ``v(all channels)``. Non-converting paths are worth 0 under this function.

Exact (at most ``max_exact_channels`` channels, 12 by default): ``v`` is tabulated for all
``2^n`` coalitions (a subset-sum transform over the journeys' channel-set bit masks) and
``φ_i = Σ_{S ∌ i} |S|! (n-|S|-1)! / n! · (v(S ∪ {i}) - v(S))``.
Because this ``v`` is a sum of unanimity games, ``φ_i`` also equals the sum over journeys
containing ``i`` of ``m(j) / (number of distinct channels of j)``; the tests use that identity
as an independent check.

Sampled (more channels): the mean marginal contribution over ``permutations`` random orders
of the channels (seeded, so deterministic). In one order, channel ``i`` contributes the
``m(j)`` of each journey whose channels all come no later than ``i`` and that contains ``i``,
i.e. of the journeys whose last-arriving channel is ``i``. Each order's contributions sum to
``v(all)``, so the estimates do too. ``std_error`` is the sample standard deviation of a
channel's contributions divided by ``sqrt(permutations)``.

Credits. A conversion's value goes to its touchpoints in proportion to the Shapley value of
each touchpoint's channel (linear when all are 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from math import factorial
from types import MappingProxyType

import numpy as np

from attribution.models._batch import FloatArray, IntArray, JourneyBatch, encode
from attribution.models.journeys import DEFAULT_LOOKBACK, Journey
from attribution.models.specs import Measure, Shapley

__all__ = ["ShapleyValues", "shapley_scores", "shapley_values"]

_SAMPLE_CELLS = 4_000_000  # permutations x pattern members handled per numpy batch


@dataclass(frozen=True, slots=True)
class ShapleyValues:
    """Shapley value and its standard error (0 when exact) per channel key."""

    values: Mapping[str, float]
    std_error: Mapping[str, float]
    exact: bool
    permutations: int  # 0 when exact
    measure: Measure


@dataclass(frozen=True, slots=True)
class _Patterns:
    """Distinct channel sets of converting journeys and the measure each one carries."""

    players: IntArray  # batch channel code of each player
    members: IntArray  # player indices of every pattern, pattern after pattern
    offsets: IntArray  # pattern p is members[offsets[p]:offsets[p + 1]]
    worth: FloatArray  # summed measure per pattern


def _patterns(batch: JourneyBatch, measure: Measure) -> _Patterns:
    lengths = batch.lengths
    journey_of = batch.journey_index
    players, player_of = np.unique(batch.codes, return_inverse=True)
    player_of = player_of.reshape(-1).astype(np.int64)
    pairs = np.unique(journey_of * max(len(players), 1) + player_of)  # distinct (journey, player)
    pair_journey, pair_player = np.divmod(pairs, max(len(players), 1))
    nonempty = np.flatnonzero(lengths > 0)
    per_journey = np.bincount(pair_journey, minlength=len(lengths))[nonempty]
    # identify each journey's channel set by its sorted member list, via hashing to bytes
    starts = np.zeros(len(nonempty) + 1, dtype=np.int64)
    np.cumsum(per_journey, out=starts[1:])
    keys = [pair_player[a:b].tobytes() for a, b in zip(starts[:-1], starts[1:], strict=True)]
    unique_keys, pattern_of = np.unique(np.array(keys, dtype=object), return_inverse=True)
    weight = np.ones(len(nonempty)) if measure == "conversions" else batch.values[nonempty]
    worth = np.bincount(pattern_of.reshape(-1), weights=weight, minlength=len(unique_keys))
    member_lists = [np.frombuffer(key, dtype=np.int64) for key in unique_keys]
    members = np.concatenate(member_lists) if member_lists else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(member_lists) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in member_lists], out=offsets[1:])
    return _Patterns(players.astype(np.int64), members, offsets, worth.astype(np.float64))


def _exact(patterns: _Patterns) -> FloatArray:
    n = len(patterns.players)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    masks = np.bitwise_or.reduceat(np.left_shift(1, patterns.members), patterns.offsets[:-1])
    v = np.bincount(masks, weights=patterns.worth, minlength=1 << n).astype(np.float64)
    for i in range(n):  # subset-sum (zeta) transform: v[S] = sum of worth of patterns ⊆ S
        view = v.reshape(-1, 2, 1 << i)
        view[:, 1, :] += view[:, 0, :]
    coalitions = np.arange(1 << n, dtype=np.int64)
    size = np.bitwise_count(coalitions).astype(np.int64)
    coef = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.empty(n, dtype=np.float64)
    for i in range(n):
        without = coalitions[(coalitions >> i) & 1 == 0]
        phi[i] = float(coef[size[without]] @ (v[without | (1 << i)] - v[without]))
    return phi


def _sampled(patterns: _Patterns, spec: Shapley) -> tuple[FloatArray, FloatArray]:
    n = len(patterns.players)
    rng = np.random.default_rng(spec.seed)
    total = np.zeros(n)
    total_sq = np.zeros(n)
    starts = patterns.offsets[:-1]
    batch = max(1, _SAMPLE_CELLS // max(len(patterns.members), 1))
    done = 0
    while done < spec.permutations:
        size = min(batch, spec.permutations - done)
        order = np.argsort(rng.random((size, n)), axis=1)  # order[b, r] = player at rank r
        rank = np.argsort(order, axis=1)
        latest = np.maximum.reduceat(rank[:, patterns.members], starts, axis=1)
        winner = np.take_along_axis(order, latest, axis=1)
        rows = np.repeat(np.arange(size), len(patterns.worth)) * n
        gains = np.bincount(
            rows + winner.reshape(-1), weights=np.tile(patterns.worth, size), minlength=size * n
        ).reshape(size, n)
        total += gains.sum(axis=0)
        total_sq += (gains**2).sum(axis=0)
        done += size
    mean = total / done
    variance = np.maximum(total_sq / done - mean**2, 0.0) * done / (done - 1)
    return mean, np.sqrt(variance / done)


def _solve(batch: JourneyBatch, spec: Shapley) -> tuple[FloatArray, FloatArray, bool]:
    patterns = _patterns(batch, spec.measure)
    phi = np.zeros(len(batch.channels), dtype=np.float64)
    error = np.zeros(len(batch.channels), dtype=np.float64)
    exact = len(patterns.players) <= spec.max_exact_channels
    if exact:
        phi[patterns.players] = _exact(patterns)
    else:
        phi[patterns.players], error[patterns.players] = _sampled(patterns, spec)
    return phi, error, exact


def shapley_scores(batch: JourneyBatch, spec: Shapley) -> FloatArray:
    """Shapley value of every channel of ``batch`` (indexed like ``batch.channels``)."""
    return _solve(batch, spec)[0]


def shapley_values(
    journeys: Iterable[Journey],
    *,
    measure: Measure = "conversions",
    max_exact_channels: int = 12,
    permutations: int = 2000,
    seed: int = 0,
    lookback: timedelta | None = DEFAULT_LOOKBACK,
) -> ShapleyValues:
    """Shapley values of the channel keys of ``journeys`` (see the module docstring)."""
    spec = Shapley(measure, max_exact_channels, permutations, seed)
    batch = encode(journeys, (), lookback)
    phi, error, exact = _solve(batch, spec)
    return ShapleyValues(
        values=MappingProxyType(dict(zip(batch.channels, phi.tolist(), strict=True))),
        std_error=MappingProxyType(dict(zip(batch.channels, error.tolist(), strict=True))),
        exact=exact,
        permutations=0 if exact else spec.permutations,
        measure=spec.measure,
    )
