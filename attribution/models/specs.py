"""Model specifications: which model to run and with which parameters.

Each model is a frozen dataclass whose class attribute ``name`` is its registry name. The
registry :data:`MODELS` maps those names to the classes, and :func:`model_spec` builds a spec
from a name and keyword parameters (for settings files and API bodies)::

    first_touch      FirstTouch()          all credit to the first touchpoint
    last_touch       LastTouch()           all credit to the last touchpoint
    linear           Linear()              equal shares
    time_decay       TimeDecay(half_life)  weight 2^(-age / half_life), age before conversion
    position_based   PositionBased(first, last)
                                           ``first`` / ``last`` to the ends, the rest shared
                                           equally by the middle touchpoints
    markov           Markov(order, measure)
                                           removal effects of an order-k absorbing Markov chain
    shapley          Shapley(measure, max_exact_channels, permutations, seed)
                                           Shapley values of a coalition game over channels
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeAlias

__all__ = [
    "MODELS",
    "FirstTouch",
    "LastTouch",
    "Linear",
    "Markov",
    "Measure",
    "ModelSpec",
    "PositionBased",
    "Shapley",
    "TimeDecay",
    "model_spec",
]

Measure: TypeAlias = Literal["conversions", "value"]
_MEASURES = ("conversions", "value")


@dataclass(frozen=True, slots=True)
class FirstTouch:
    """All of a conversion to its first touchpoint."""

    name: ClassVar[str] = "first_touch"


@dataclass(frozen=True, slots=True)
class LastTouch:
    """All of a conversion to its last touchpoint."""

    name: ClassVar[str] = "last_touch"


@dataclass(frozen=True, slots=True)
class Linear:
    """An equal share to every touchpoint."""

    name: ClassVar[str] = "linear"


@dataclass(frozen=True, slots=True)
class TimeDecay:
    """Weights ``2 ** (-age / half_life)``, normalised; ``age`` is the time before conversion."""

    half_life: timedelta = timedelta(days=7)
    name: ClassVar[str] = "time_decay"

    def __post_init__(self) -> None:
        if self.half_life <= timedelta(0):
            raise ValueError(f"half_life must be positive, got {self.half_life!r}")


@dataclass(frozen=True, slots=True)
class PositionBased:
    """``first`` and ``last`` to the ends, the rest shared equally by the middle touchpoints.

    One touchpoint gets everything. Two touchpoints split the conversion between the ends in
    proportion ``first : last`` (50/50 with the default 40/20/40; 50/50 as well when both are
    zero).
    """

    first: float = 0.4
    last: float = 0.4
    name: ClassVar[str] = "position_based"

    def __post_init__(self) -> None:
        for label, share in (("first", self.first), ("last", self.last)):
            if not math.isfinite(share) or share < 0:
                raise ValueError(f"{label} must be finite and >= 0, got {share!r}")
        if self.first + self.last > 1.0 + 1e-12:
            raise ValueError(f"first + last must be <= 1, got {self.first + self.last!r}")


@dataclass(frozen=True, slots=True)
class Markov:
    """Removal effects of an order-``order`` Markov chain, solved exactly.

    ``measure="conversions"`` uses the probability of reaching the conversion state;
    ``"value"`` the expected converted value (each conversion carries its journey's value).
    """

    order: int = 1
    measure: Measure = "conversions"
    name: ClassVar[str] = "markov"

    def __post_init__(self) -> None:
        if self.order not in (1, 2, 3):
            raise ValueError(f"order must be 1, 2 or 3, got {self.order!r}")
        if self.measure not in _MEASURES:
            raise ValueError(f"measure must be one of {_MEASURES}, got {self.measure!r}")


@dataclass(frozen=True, slots=True)
class Shapley:
    """Shapley values of channels; exact up to ``max_exact_channels`` channels, else sampled.

    Sampling uses ``permutations`` random orders drawn from a generator seeded with ``seed``.
    """

    measure: Measure = "conversions"
    max_exact_channels: int = 12
    permutations: int = 2000
    seed: int = 0
    name: ClassVar[str] = "shapley"

    def __post_init__(self) -> None:
        if self.measure not in _MEASURES:
            raise ValueError(f"measure must be one of {_MEASURES}, got {self.measure!r}")
        if not 0 <= self.max_exact_channels <= 20:
            raise ValueError(
                f"max_exact_channels must be in 0..20, got {self.max_exact_channels!r}"
            )
        if self.permutations < 2:
            raise ValueError(f"permutations must be >= 2, got {self.permutations!r}")


ModelSpec: TypeAlias = (
    FirstTouch | LastTouch | Linear | TimeDecay | PositionBased | Markov | Shapley
)

MODELS: Mapping[str, type[ModelSpec]] = MappingProxyType(
    {
        spec.name: spec
        for spec in (FirstTouch, LastTouch, Linear, TimeDecay, PositionBased, Markov, Shapley)
    }
)


def model_spec(name: str, **params: Any) -> ModelSpec:
    """Build the spec registered under ``name`` with ``params``.

    Raises ``ValueError`` for an unknown name and ``TypeError`` for an unknown parameter.
    ``TimeDecay``'s ``half_life`` may also be given in seconds as a number.
    """
    try:
        spec = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None
    half_life = params.get("half_life")
    if spec is TimeDecay and isinstance(half_life, int | float):
        params = {**params, "half_life": timedelta(seconds=half_life)}
    return spec(**params)
