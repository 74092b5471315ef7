"""The regime detector: how well it finds the synthetic generator's regimes, what labelling
costs on the event loop, and what a fit costs (in the worker thread).

    python bench/regime.py [--candles 40000] [--seeds 42,1,3,7,2,4,5,6,8] [--fit-candles 10000] [--repeat 3]

1. Agreement: `label_history` (a sim bot's labels: each fit used `apply_after` candles after it
   started) over `--candles` synthetic candles of each seed, against the generator's regimes
   mapped as trend_up -> trending_up, trend_down -> trending_down, sideways and low_volatility
   -> ranging, high_volatility -> volatile; candles after the first fit only. Prints the share
   that agrees and the confusion table (rows: the generator, columns: the detector) per seed.
   Labelling cost and fit time use the first seed.
2. Labelling on the event loop: `RegimeDetector.update` per candle with a fitted model in
   (observation, standardizing, one forward step, the label probabilities), and the same
   through `SharedRegime.reading_for` (the store, as bots read it): ns per candle, median of
   `--repeat` runs over the candles after the first fit. The fit is not in it.
3. The fit: `fit_regime_model` on a window of `--fit-candles` candles (seconds, iterations),
   median of `--repeat`: the first fit (from the quantile start, up to `max_iterations`) and a
   refit (from the first fit's model, `refit_iterations`).
4. The fit's request on the event loop: `RegimeDetector.fit_request` where it hands out a fit
   (the window copied out for the worker thread), over `--candles` candles of the first seed:
   median and worst microseconds of the calls that made a request.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market.models import Candle  # noqa: E402
from market.regime import Regime  # noqa: E402
from market.synthetic import generate_candles, generated_regimes  # noqa: E402
from runner.regime.shared import SharedRegime  # noqa: E402
from strategies.regime.detector import (  # noqa: E402
    KNOWN_REGIMES, RegimeDetector, RegimeSettings, fit_regime_model, label_history,
)

TRUTH = {"trend_up": "trending_up", "trend_down": "trending_down", "sideways": "ranging",
         "low_volatility": "ranging", "high_volatility": "volatile"}
APPLY_AFTER = 10


def agreement(candles: list[Candle], truth: list[str], settings: RegimeSettings) -> float:
    started = time.perf_counter()
    readings = label_history([c.close for c in candles], settings, apply_after=APPLY_AFTER)
    elapsed = time.perf_counter() - started
    pairs = [(TRUTH[t], r.regime.value) for t, r in zip(truth, readings) if r.regime is not Regime.UNKNOWN]
    agree = sum(t == r for t, r in pairs) / len(pairs)
    counts = collections.Counter(pairs)
    labels = [r.value for r in KNOWN_REGIMES]
    print(f"agreement: {100 * agree:.1f}% of {len(pairs):,} candles after the first fit "
          f"({len(candles) - len(pairs):,} before it; {elapsed:.1f} s with the fits)")
    print("  " + "generator / detector".ljust(22) + "".join(f"{label:>15}" for label in labels) + f"{'recall':>9}")
    for true in labels:
        row = [counts[(true, label)] for label in labels]
        recall = counts[(true, true)] / sum(row) if sum(row) else float("nan")
        print(f"  {true:<22}" + "".join(f"{n:>15,}" for n in row) + f"{100 * recall:>8.1f}%")
    return agree


def labelling_cost(candles: list[Candle], settings: RegimeSettings, repeat: int) -> None:
    closes = [c.close for c in candles]
    detector = RegimeDetector(settings)
    first = 0
    for index, close in enumerate(closes):           # warm up and fit once, outside the timing
        detector.update(close)
        if (request := detector.fit_request()) is not None:
            detector.install(fit_regime_model(request))
            first = index + 1
            break
    rest = closes[first:]
    frozen = dataclasses.replace(settings, refit_every=10**9)   # no fit inside the timed loop
    runs = []
    for _ in range(repeat):
        timed = RegimeDetector(frozen)
        for close in closes[:first]:
            timed.update(close)
        timed.install(detector.model)
        update = timed.update
        started = time.perf_counter_ns()
        for close in rest:
            update(close)
        runs.append((time.perf_counter_ns() - started) / len(rest))
    print(f"labelling on the loop: RegimeDetector.update {statistics.median(runs):,.0f} ns/candle "
          f"over {len(rest):,} candles ({settings.states} states)")

    async def shared_cost() -> float:
        # Read as the runner reads: the first fit awaited where it is due, then no other fit.
        shared = SharedRegime(frozen, deterministic=True, apply_after=1, max_candles=len(candles))
        for candle in candles[:first + 1]:
            while shared.reading_for(candle) is None:
                await shared.fit_done()
        read = shared.reading_for
        started = time.perf_counter_ns()
        for candle in candles[first + 1:]:
            read(candle)
        return (time.perf_counter_ns() - started) / (len(rest) - 1)

    shared_runs = [asyncio.run(shared_cost()) for _ in range(repeat)]
    print(f"labelling on the loop: SharedRegime.reading_for {statistics.median(shared_runs):,.0f} ns/candle "
          "(first reader of each candle)")


def fit_request_cost(candles: list[Candle], settings: RegimeSettings) -> None:
    detector, spent = RegimeDetector(settings), []
    for candle in candles:
        detector.update(candle.close)
        started = time.perf_counter_ns()
        request = detector.fit_request()
        if request is not None:
            spent.append((time.perf_counter_ns() - started) / 1_000)
    if not spent:
        print("fit requests: none (use more --candles)")
        return
    print(f"fit request on the loop: median {statistics.median(spent):,.0f} us, worst {max(spent):,.0f} us, "
          f"{len(spent)} requests of up to {settings.window:,} observations")


def fit_cost(candles: list[Candle], settings: RegimeSettings, fit_candles: int, repeat: int) -> None:
    wide = dataclasses.replace(settings, window=fit_candles, min_window=fit_candles)
    detector = RegimeDetector(wide)
    request = None
    for candle in candles:
        detector.update(candle.close)
        if (request := detector.fit_request()) is not None:
            break
    if request is None:
        print(f"fit: need more than {fit_candles:,} candles (use --candles)")
        return
    for kind in ("first fit", "refit"):
        runs, iterations = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            model = fit_regime_model(request)
            runs.append(time.perf_counter() - started)
            iterations = model.iterations
        print(f"{kind} on {fit_candles:,} candles: {statistics.median(runs):.3f} s, {iterations} Baum-Welch "
              f"iterations, {settings.states} states (in a worker thread, not on the loop)")
        request = dataclasses.replace(request, previous=model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=40_000)
    parser.add_argument("--seeds", default="42,1,3,7,2,4,5,6,8")
    parser.add_argument("--fit-candles", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = RegimeSettings()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"{args.candles:,} synthetic 1m candles; settings: {settings}")
    shares = {}
    for seed in seeds:
        print(f"seed {seed}:", end=" ")
        shares[seed] = agreement(generate_candles(count=args.candles, seed=seed),
                                 generated_regimes(count=args.candles, seed=seed), settings)
    print("agreement by seed: " + ", ".join(f"{seed}: {100 * share:.1f}%" for seed, share in shares.items()))
    candles = generate_candles(count=args.candles, seed=seeds[0])
    labelling_cost(candles, settings, args.repeat)
    fit_cost(candles, settings, args.fit_candles, args.repeat)
    fit_request_cost(candles, settings)


if __name__ == "__main__":
    main()
