"""Small builders shared by the attribution model tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from attribution.models import Credit, Journey, Touchpoint

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def journey(
    conversion_id: str,
    channels: Sequence[str],
    value: float = 1.0,
    ages: Sequence[timedelta] | None = None,
    converted_at: datetime = T0,
) -> Journey:
    """A journey whose touchpoints are ``ages`` before the conversion (default 1 h apart)."""
    if ages is None:
        ages = [timedelta(hours=len(channels) - i) for i in range(len(channels))]
    tps = [
        Touchpoint(f"{conversion_id}/{i}", channel, converted_at - age)
        for i, (channel, age) in enumerate(zip(channels, ages, strict=True))
    ]
    return Journey(conversion_id, value, converted_at, tps)


def by_touchpoint(credits: Sequence[Credit], model: str | None = None) -> dict[str, float]:
    return {c.touchpoint_id: c.value for c in credits if model is None or c.model == model}


def by_channel(credits: Sequence[Credit], model: str, field: str = "value") -> dict[str, float]:
    out: dict[str, float] = {}
    for c in credits:
        if c.model == model:
            out[c.channel] = out.get(c.channel, 0.0) + float(getattr(c, field))
    return out


def random_journeys(
    seed: int, conversions: int, nulls: int, channels: Sequence[str], max_len: int = 6
) -> tuple[list[Journey], list[tuple[str, ...]]]:
    """Seeded journeys whose converting and non-converting paths prefer different channels."""
    rng = np.random.default_rng(seed)
    n = len(channels)
    p_conv = rng.dirichlet(np.ones(n))
    p_null = rng.dirichlet(np.ones(n))
    journeys = []
    for j in range(conversions):
        length = int(rng.integers(1, max_len + 1))
        picks = rng.choice(n, size=length, p=p_conv).tolist()
        value = float(round(rng.uniform(1, 200), 2))
        journeys.append(journey(f"c{j}", [channels[c] for c in picks], value))
    null_paths = []
    for _ in range(nulls):
        length = int(rng.integers(1, max_len + 1))
        null_paths.append(tuple(channels[c] for c in rng.choice(n, size=length, p=p_null)))
    return journeys, null_paths
