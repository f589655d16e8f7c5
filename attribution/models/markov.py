"""Markov-chain attribution: removal effects of an absorbing chain, solved exactly.

The chain. Every path (converting journey or non-converting path) is a walk
``start → s_1 → … → s_L → conversion | null``. With order ``k`` the state after touchpoint
``i`` is the tuple of the last ``min(k, i + 1)`` channel keys, so the first ``k - 1`` states of
a path are shorter tuples; they form a tree under ``start`` and give the same absorption
probabilities as starting directly from the first full ``k``-tuple. A converting journey adds
one to its last transition into ``conversion``, a non-converting path one into ``null``.
Transition probabilities are the counts divided by each state's total outgoing count. A
channel repeated back to back makes a self-loop (order 1), which changes no absorption
probability.

The solve. With ``Q`` the transient-to-transient block, ``r`` the one-step reward into
``conversion`` (probability for ``measure="conversions"``; for ``"value"`` the converted value
leaving each state divided by its outgoing count) and ``p0`` the start distribution, the
chain's total is ``p0 · (I - Q)^-1 r``, computed with ``numpy.linalg.solve`` (no simulation).

Removal effect. Removing channel ``c`` sends every transition into a state that contains
``c`` to ``null``; the total becomes ``p0_K · (I - Q_KK)^-1 r_K`` over the states ``K`` that do
not contain ``c``. ``RE_c = 1 - total_without_c / total``, in ``[0, 1]``. Removing states can
only lower the total, so effects are never negative (tiny rounding is clipped to 0).

Credits. A conversion's value goes to its touchpoints in proportion to the removal effect of
each touchpoint's channel (see ``_batch.distribute_by_score``; linear when all are 0). This is
the transaction-level use of removal effects; ``channelattribution`` instead splits the total
of all conversions in proportion to the effects, which :meth:`RemovalEffects.shares` gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

import numpy as np

from attribution.models._batch import BoolArray, FloatArray, IntArray, JourneyBatch, encode
from attribution.models.journeys import DEFAULT_LOOKBACK, Journey
from attribution.models.specs import Markov, Measure

__all__ = ["MAX_MARKOV_STATES", "RemovalEffects", "markov_scores", "removal_effects"]

MAX_MARKOV_STATES = 8000
"""Dense linear algebra: above this many observed states the solve is refused."""


@dataclass(frozen=True, slots=True)
class RemovalEffects:
    """Removal effect per channel key and the chain's total (probability or value)."""

    effects: Mapping[str, float]
    total: float
    order: int
    measure: Measure
    states: int

    def shares(self) -> dict[str, float]:
        """Effects normalised to sum to 1 (all 0 when no channel has an effect)."""
        total = sum(self.effects.values())
        return {key: (e / total if total > 0 else 0.0) for key, e in self.effects.items()}


@dataclass(frozen=True, slots=True)
class _Chain:
    q: FloatArray  # (S, S) transient transition probabilities
    reward: FloatArray  # (S,) one-step reward into conversion
    start: FloatArray  # (S,) start distribution
    contains: BoolArray  # (S, C) state s contains channel c


def _state_codes(codes: IntArray, offsets: IntArray, order: int, base: int) -> IntArray:
    """Encode the state after every touchpoint as an integer in base ``base`` (digit 0 = none)."""
    lengths = np.diff(offsets)
    position = np.arange(len(codes), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    state = codes + 1
    scale = 1
    for lag in range(1, order):
        scale *= base
        shifted = np.zeros_like(codes)
        shifted[lag:] = codes[:-lag] + 1
        state = state + np.where(position >= lag, shifted, 0) * scale
    return state


def _build_chain(batch: JourneyBatch, order: int, measure: Measure) -> _Chain | None:
    n_conv = len(batch.codes)
    codes = np.concatenate([batch.codes, batch.null_codes])
    offsets = np.concatenate([batch.offsets, batch.null_offsets[1:] + n_conv])
    lengths = np.diff(offsets)
    converting = np.arange(len(lengths)) < len(batch.journeys)
    nonempty = lengths > 0
    if not (nonempty & converting).any():
        return None
    n_channels = len(batch.channels)
    base = n_channels + 1
    if base**order >= 2**62:
        raise ValueError("too many channels for an integer state code")
    raw_states = _state_codes(codes, offsets, order, base)
    state_keys, state = np.unique(raw_states, return_inverse=True)
    n_states = len(state_keys)
    if n_states > MAX_MARKOV_STATES:
        raise ValueError(
            f"{n_states} Markov states exceed {MAX_MARKOV_STATES}; use a lower order "
            "or a coarser channel key"
        )
    state = state.astype(np.int64).reshape(-1)
    first = state[offsets[:-1][nonempty]]
    last = state[offsets[1:][nonempty] - 1]
    conv_w = converting[nonempty].astype(np.float64)
    if measure == "value":
        reward_w = np.zeros(len(lengths), dtype=np.float64)
        reward_w[: len(batch.journeys)] = batch.values
        reward_w = reward_w[nonempty]
    else:
        reward_w = conv_w
    # transitions inside paths: from each touchpoint to the next one of the same path
    inner = np.ones(len(codes), dtype=bool)
    inner[offsets[1:][nonempty] - 1] = False
    src, dst = state[inner], state[np.flatnonzero(inner) + 1]
    counts = np.bincount(src * n_states + dst, minlength=n_states * n_states)
    q = counts.reshape(n_states, n_states).astype(np.float64)
    out = q.sum(axis=1) + np.bincount(last, minlength=n_states)  # every path ends once
    reward = np.bincount(last, weights=reward_w, minlength=n_states)
    q /= out[:, None]
    start = np.bincount(first, minlength=n_states).astype(np.float64)
    contains = np.zeros((n_states, n_channels), dtype=bool)
    rows = np.arange(n_states)
    rest = state_keys.copy()
    for _ in range(order):
        digit = rest % base
        present = digit > 0
        contains[rows[present], digit[present] - 1] = True
        rest //= base
    return _Chain(q, reward / out, start / start.sum(), contains)


def _total(chain: _Chain, keep: BoolArray | None = None) -> float:
    if keep is None:
        a = np.eye(len(chain.reward)) - chain.q
        return float(chain.start @ np.linalg.solve(a, chain.reward))
    idx = np.flatnonzero(keep)
    if not len(idx):
        return 0.0
    a = np.eye(len(idx)) - chain.q[np.ix_(idx, idx)]
    return float(chain.start[idx] @ np.linalg.solve(a, chain.reward[idx]))


def _effects(batch: JourneyBatch, spec: Markov) -> tuple[FloatArray, float, int]:
    chain = _build_chain(batch, spec.order, spec.measure)
    n_channels = len(batch.channels)
    if chain is None:
        return np.zeros(n_channels, dtype=np.float64), 0.0, 0
    total = _total(chain)
    effects = np.zeros(n_channels, dtype=np.float64)
    if total > 0.0:
        for c in range(n_channels):
            column = chain.contains[:, c]
            if column.any():
                effects[c] = 1.0 - _total(chain, ~column) / total
    return np.clip(effects, 0.0, 1.0), total, len(chain.reward)


def markov_scores(batch: JourneyBatch, spec: Markov) -> FloatArray:
    """Removal effect of every channel of ``batch`` (indexed like ``batch.channels``)."""
    return _effects(batch, spec)[0]


def removal_effects(
    journeys: Iterable[Journey],
    non_converting_paths: Iterable[Sequence[str]] = (),
    *,
    order: int = 1,
    measure: Measure = "conversions",
    lookback: timedelta | None = DEFAULT_LOOKBACK,
) -> RemovalEffects:
    """Removal effects of every channel key seen in ``journeys`` or ``non_converting_paths``."""
    spec = Markov(order=order, measure=measure)
    batch = encode(journeys, non_converting_paths, lookback)
    effects, total, states = _effects(batch, spec)
    return RemovalEffects(
        effects=MappingProxyType(dict(zip(batch.channels, effects.tolist(), strict=True))),
        total=total,
        order=order,
        measure=measure,
        states=states,
    )
