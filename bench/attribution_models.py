"""Benchmark of the attribution models (issue 7).

Data (seeded): 1,000,000 touchpoints over 12 channel keys — 100,000 converting journeys
(1 + geometric touchpoints, mean about 4) and non-converting paths filling the rest. Converting
and non-converting paths draw channels from different distributions so the data-driven models
have something to find. Touchpoints are spread back in time from each conversion with
exponential gaps (mean 2 days), so a few fall outside the 30-day lookback window.

Timed, each with ``time.perf_counter`` around one ``attribute(...)`` call that returns
``list[Credit]`` (so encoding, lookback, the model and building the Credit objects are all
included): every model alone, Markov of orders 2 and 3, and all seven default models in one
call; and, for scale, the columnar core alone (encode once, then each model's weights
without building ``Credit`` objects). Then the same calls again under ``tracemalloc`` for
their peak allocation (tracemalloc slows Python code down, so its pass is not timed), and
the process's peak RSS.

When ``ChannelAttribution`` is importable it runs ``heuristic_models`` and ``markov_model``
(order 1, its defaults, one thread) on the same windowed paths, aggregated as it expects,
and prints the ratio of our time to its time and the largest differences between results.

    .venv/bin/python bench/attribution_models.py [--touchpoints N] [--conversions N]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from attribution.models import (
    Credit,
    FirstTouch,
    Journey,
    LastTouch,
    Linear,
    Markov,
    ModelSpec,
    PositionBased,
    Shapley,
    TimeDecay,
    Touchpoint,
    apply_lookback,
    attribute,
    removal_effects,
)
from attribution.models._batch import encode
from attribution.models.attribute import model_weights

CHANNELS = [
    "telegram:1", "telegram:2", "wecom:3", "weibo:4", "mastodon:5", "email:6",
    "x:7", "facebook:8", "line:9", "whatsapp:10", "reddit:11", "pinterest:12",
]  # fmt: skip
DEFAULTS: list[ModelSpec] = [
    FirstTouch(),
    LastTouch(),
    Linear(),
    TimeDecay(),
    PositionBased(),
    Markov(),
    Shapley(),
]


def generate(
    touchpoints: int, conversions: int, seed: int
) -> tuple[list[Journey], list[tuple[str, ...]]]:
    rng = np.random.default_rng(seed)
    n = len(CHANNELS)
    p_conv = rng.dirichlet(np.ones(n))
    p_null = rng.dirichlet(np.ones(n))
    lengths = 1 + rng.geometric(1 / 4, size=conversions) - 1
    lengths = np.minimum(lengths, 30)
    total = int(lengths.sum())
    chans = rng.choice(n, size=total, p=p_conv)
    gaps_s = rng.exponential(2 * 86400, size=total)
    end = datetime(2025, 6, 1, tzinfo=UTC)
    converted_s = rng.uniform(0, 60 * 86400, size=conversions)
    journeys: list[Journey] = []
    pos = 0
    for j, length in enumerate(lengths.tolist()):
        at_conv = end - timedelta(seconds=float(converted_s[j]))
        ages = np.cumsum(gaps_s[pos : pos + length][::-1])[::-1]
        tps = [
            Touchpoint(f"t{pos + i}", CHANNELS[c], at_conv - timedelta(seconds=float(a)))
            for i, (c, a) in enumerate(
                zip(chans[pos : pos + length].tolist(), ages.tolist(), strict=True)
            )
        ]
        value = float(round(rng.lognormal(3.5, 0.8), 2))
        journeys.append(Journey(f"o{j}", value, at_conv, tps))
        pos += length
    rest = touchpoints - total
    null_paths: list[tuple[str, ...]] = []
    null_lengths = 1 + rng.geometric(1 / 4, size=max(rest // 2, 1))
    null_chans = rng.choice(n, size=int(null_lengths.sum()), p=p_null).tolist()
    pos = 0
    for length in null_lengths.tolist():
        if rest <= 0:
            break
        length = min(length, rest)
        null_paths.append(tuple(CHANNELS[c] for c in null_chans[pos : pos + length]))
        pos += length
        rest -= length
    return journeys, null_paths


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def channel_totals(credits: Sequence[Credit], model: str) -> dict[str, tuple[float, float]]:
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for c in credits:
        if c.model == model:
            out[c.channel][0] += c.weight
            out[c.channel][1] += c.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def compare_channelattribution(
    journeys: list[Journey],
    nulls: list[tuple[str, ...]],
    ours_heuristic_s: float,
    ours_markov_s: float,
) -> None:
    try:
        import ChannelAttribution as ca  # type: ignore[import-untyped]
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        print("channelattribution: not installed, no comparison")
        return
    windowed = [j for j in apply_lookback(journeys) if j.touchpoints]
    agg: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for j in windowed:
        row = agg[">".join(tp.channel for tp in j.touchpoints)]
        row[0] += 1
        row[1] += j.value
    for p in nulls:
        agg[">".join(p)][2] += 1
    frame = pd.DataFrame(
        [(k, *v) for k, v in agg.items()], columns=["path", "conv", "value", "null"]
    )
    t_h, heur = timed(lambda: ca.heuristic_models(frame, "path", "conv", "value", flg_pro=False))
    t_m, mark = timed(
        lambda: ca.markov_model(
            frame, "path", "conv", var_value="value", var_null="null",
            order=1, out_more=True, verbose=False, flg_pro=False,
        )
    )  # fmt: skip
    print(
        f"channelattribution heuristic_models  {t_h:7.3f} s   ours (first+last+linear) "
        f"{ours_heuristic_s:7.3f} s   ratio ours/theirs {ours_heuristic_s / t_h:6.2f}"
    )
    print(
        f"channelattribution markov_model(o=1) {t_m:7.3f} s   ours markov(o=1)         "
        f"{ours_markov_s:7.3f} s   ratio ours/theirs {ours_markov_s / t_m:6.2f}"
    )
    credits = attribute(windowed, [FirstTouch(), LastTouch(), Linear()], lookback=None)
    worst = 0.0
    for ours_name, col in (("first_touch", "first_touch"), ("last_touch", "last_touch"),
                           ("linear", "linear_touch")):  # fmt: skip
        totals = channel_totals(credits, ours_name)
        for _, r in heur.iterrows():
            conv, value = totals.get(r["channel_name"], (0.0, 0.0))
            worst = max(worst, abs(conv - r[f"{col}_conversions"]),
                        abs(value - r[f"{col}_value"]))  # fmt: skip
    print(f"  heuristics: largest absolute difference per channel total {worst:.3g}")
    ours_re = removal_effects(windowed, nulls, order=1, lookback=None).effects
    theirs = mark["removal_effects"]
    diffs = [abs(ours_re[r["channel_name"]] - r["removal_effects_conversion"])
             for _, r in theirs.iterrows()]  # fmt: skip
    print(
        f"  markov removal effects (conversions): largest |ours - theirs| {max(diffs):.4f} "
        f"(theirs simulated, ours exact; effects range "
        f"{min(ours_re.values()):.3f}..{max(ours_re.values()):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--touchpoints", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args()

    t_gen, (journeys, nulls) = timed(
        lambda: generate(args.touchpoints, args.conversions, args.seed)
    )
    n_conv_tp = sum(len(j.touchpoints) for j in journeys)
    n_null_tp = sum(len(p) for p in nulls)
    print(
        f"data: {len(journeys):,} conversions with {n_conv_tp:,} touchpoints, "
        f"{len(nulls):,} non-converting paths with {n_null_tp:,} touchpoints, "
        f"{len(CHANNELS)} channels (generated in {t_gen:.1f} s)"
    )

    def run(models: Sequence[ModelSpec]) -> list[Credit]:
        return attribute(journeys, list(models), non_converting_paths=nulls)

    cases: list[tuple[str, list[ModelSpec]]] = [(m.name, [m]) for m in DEFAULTS]
    cases += [("markov order 2", [Markov(order=2)]), ("markov order 3", [Markov(order=3)])]
    cases.append(("all seven (one call)", DEFAULTS))
    times: dict[str, float] = {}
    for label, models in cases:
        seconds, credits = timed(lambda models=models: run(models))  # type: ignore[misc]
        times[label] = seconds
        print(f"{label:22s} {seconds:7.3f} s   {len(credits):>9,} credits")
    heur_s, _ = timed(lambda: run([FirstTouch(), LastTouch(), Linear()]))
    # the same work without building Credit objects (encode once, then weights per model)
    encode_s, batch = timed(lambda: encode(journeys, nulls))
    print(f"columnar: encode {encode_s:.3f} s, then weights per model (no Credit objects):")
    for spec in DEFAULTS:
        seconds, _ = timed(lambda spec=spec: model_weights(batch, spec))  # type: ignore[misc]
        print(f"  {spec.name:20s} {seconds:7.3f} s")
    if not args.no_memory:
        for label, models in cases:
            peak = peak_mib(lambda m=models: run(m))  # type: ignore[misc]
            print(f"{label:22s} peak traced allocation {peak:8.1f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB (data set included)")
    compare_channelattribution(journeys, nulls, heur_s, times["markov"])


if __name__ == "__main__":
    main()
