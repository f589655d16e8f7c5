"""The values the attribution models work on: touchpoints, journeys and credits.

A *journey* is one conversion together with the touchpoints (clicks) that led to it, oldest
first. A touchpoint carries a *channel key*: an opaque string chosen by the caller. The models
never look inside it, so the caller attributes by whatever dimension it likes — the channel
kind (``"telegram"``), the channel account (``"telegram:12"``), the campaign or the product
card — by choosing the key.

A *credit* is the share of one conversion given to one touchpoint by one model: ``weight`` is
the fraction (the weights of a conversion sum to 1) and ``value`` is ``weight`` times the
conversion's value.

Journeys that did not convert are not ``Journey`` values: the data-driven models take them as
plain sequences of channel keys (``non_converting_paths``), since they have no conversion id,
value or time.

The lookback window is applied by :func:`within_lookback`: a touchpoint counts when it happened
at most ``lookback`` before the conversion and not after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "DEFAULT_LOOKBACK",
    "Credit",
    "Journey",
    "Touchpoint",
    "apply_lookback",
    "within_lookback",
]

DEFAULT_LOOKBACK = timedelta(days=30)


def _require_aware(name: str, at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {at!r}")


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One tracked visit: its id, the channel key it is credited to, and when it happened."""

    touchpoint_id: str
    channel: str
    at: datetime

    def __post_init__(self) -> None:
        _require_aware("Touchpoint.at", self.at)
        if not self.channel:
            raise ValueError("Touchpoint.channel must be a non-empty string")


@dataclass(frozen=True, slots=True)
class Journey:
    """A conversion and the touchpoints before it, oldest first.

    ``touchpoints`` may be given as any sequence; it is stored as a tuple. Touchpoints must be
    in time order (ties allowed). ``value`` is the amount credited out (revenue, or 1.0 to
    count conversions) and must be finite and not negative.
    """

    conversion_id: str
    value: float
    converted_at: datetime
    touchpoints: Sequence[Touchpoint] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _require_aware("Journey.converted_at", self.converted_at)
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"Journey.value must be finite and >= 0, got {self.value!r}")
        if not isinstance(self.touchpoints, tuple):
            object.__setattr__(self, "touchpoints", tuple(self.touchpoints))
        tps = self.touchpoints
        for earlier, later in zip(tps, tps[1:], strict=False):
            if later.at < earlier.at:
                raise ValueError(
                    f"touchpoints of conversion {self.conversion_id!r} are not in time order: "
                    f"{later.touchpoint_id!r} is before {earlier.touchpoint_id!r}"
                )


@dataclass(frozen=True, slots=True)
class Credit:
    """The share of conversion ``conversion_id`` that ``model`` gives to one touchpoint."""

    conversion_id: str
    touchpoint_id: str
    channel: str
    model: str
    weight: float
    value: float


def _check_lookback(lookback: timedelta | None) -> None:
    if lookback is not None and lookback < timedelta(0):
        raise ValueError(f"lookback must be >= 0, got {lookback!r}")


def within_lookback(journey: Journey, lookback: timedelta | None = DEFAULT_LOOKBACK) -> Journey:
    """Return ``journey`` keeping only the touchpoints inside the lookback window.

    A touchpoint is kept when ``converted_at - lookback <= at <= converted_at``. With
    ``lookback=None`` there is no lower bound, but touchpoints after the conversion are still
    dropped. The journey itself is returned when nothing is dropped.
    """
    _check_lookback(lookback)
    end = journey.converted_at
    start = None if lookback is None else end - lookback
    kept = tuple(
        tp for tp in journey.touchpoints if tp.at <= end and (start is None or tp.at >= start)
    )
    if len(kept) == len(journey.touchpoints):
        return journey
    return Journey(journey.conversion_id, journey.value, journey.converted_at, kept)


def apply_lookback(
    journeys: Iterable[Journey], lookback: timedelta | None = DEFAULT_LOOKBACK
) -> list[Journey]:
    """:func:`within_lookback` applied to every journey, in order."""
    return [within_lookback(journey, lookback) for journey in journeys]
