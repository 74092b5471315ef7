"""The regime fit's recursion, chunked (strategies/regime/recursion.py) against the step-by-step
reference it replaced (tests/unit/strategies/regime/stepwise_hmm.py): the same results, and the time.

    python bench/regime_fit.py [--candles 40000] [--seeds 42,1,3,7] [--fit-candles 10000,40000] [--repeat 3]

1. Same results: `label_history` (the defaults, `apply_after` 10) over `--candles` synthetic
   candles of each seed and over the real BTC file (bench/real_candles.py; synthetic candles where
   it is absent), once with each recursion. Prints, per data set, the candles whose regime
   differs (must be 0), the largest difference of a label probability, and over every fit the
   largest relative difference of a fitted parameter (start, transitions, means, variances) and of
   the log likelihood, and whether the iterations are the same.
2. Time: one first fit (`fit_regime_model` from the quantile start) on windows of `--fit-candles`
   candles of the first seed, and `label_history` over the first seed's candles, each recursion in
   turn, best of `--repeat`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.real_candles import btc_candles  # noqa: E402
from market.synthetic import generate_candles  # noqa: E402
from strategies.regime import detector as detector_module  # noqa: E402
from strategies.regime import hmm  # noqa: E402
from strategies.regime.detector import RegimeDetector, RegimeModel, RegimeSettings, label_history  # noqa: E402
from tests.unit.strategies.regime import stepwise_hmm  # noqa: E402

APPLY_AFTER = 10


@contextlib.contextmanager
def stepwise() -> Iterator[None]:
    """Fit and filter with the step-by-step reference while inside."""
    saved = hmm._baum_welch_step, hmm._forward_scaled
    hmm._baum_welch_step, hmm._forward_scaled = stepwise_hmm.baum_welch_step, stepwise_hmm.forward_scaled
    try:
        yield
    finally:
        hmm._baum_welch_step, hmm._forward_scaled = saved


def labelled_with_fits(closes: list[float], settings: RegimeSettings) -> tuple[list, list[RegimeModel]]:
    fits: list[RegimeModel] = []
    fit = detector_module.fit_regime_model

    def recording(request):
        fits.append(fit(request))
        return fits[-1]

    detector_module.fit_regime_model = recording
    try:
        return label_history(closes, settings, apply_after=APPLY_AFTER), fits
    finally:
        detector_module.fit_regime_model = fit


def relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-300)).max())


def compare(name: str, closes: list[float], settings: RegimeSettings) -> None:
    readings, fits = labelled_with_fits(closes, settings)
    with stepwise():
        reference, reference_fits = labelled_with_fits(closes, settings)
    regimes = sum(r.regime is not s.regime for r, s in zip(readings, reference))
    probs = max((abs(r.probs[k] - s.probs[k]) for r, s in zip(readings, reference) for k in r.probs), default=0.0)
    params = max(relative(getattr(f.hmm, p), getattr(g.hmm, p))
                 for f, g in zip(fits, reference_fits) for p in ("start", "transition", "means", "variances"))
    likelihood = max(relative(f.log_likelihood, g.log_likelihood) for f, g in zip(fits, reference_fits))
    same_iterations = [f.iterations for f in fits] == [g.iterations for g in reference_fits]
    same_labels = [f.labels for f in fits] == [g.labels for g in reference_fits]
    print(f"{name}: {len(closes):,} candles, {len(fits)} fits: regimes differing {regimes}, label probability "
          f"<= {probs:.1e} apart; fitted parameters <= {params:.1e} relative, log likelihood <= {likelihood:.1e}; "
          f"same iterations {same_iterations}, same state labels {same_labels}")


def best_of(repeat: int, variants: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Each variant's best time, the variants run in turn `repeat` times."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeat):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def both(run: Callable[[], object]) -> dict[str, Callable[[], object]]:
    def reference() -> object:
        with stepwise():
            return run()
    return {"chunked": run, "step by step": reference}


def first_fit_request(closes: list[float], window: int):
    detector = RegimeDetector(dataclasses.replace(RegimeSettings(), window=window, min_window=window))
    for close in closes:
        detector.update(close)
        if (request := detector.fit_request()) is not None:
            return request
    raise SystemExit(f"need more than {window:,} candles for that fit (use --candles)")


def report(what: str, best: dict[str, float]) -> None:
    print(f"{what}: chunked {best['chunked']:.3f} s, step by step {best['step by step']:.3f} s "
          f"({best['step by step'] / best['chunked']:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=40_000)
    parser.add_argument("--seeds", default="42,1,3,7")
    parser.add_argument("--fit-candles", default="10000,40000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = RegimeSettings()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    for seed in seeds:
        compare(f"seed {seed}", [c.close for c in generate_candles(count=args.candles, seed=seed)], settings)
    candles, what = btc_candles()
    compare(what, [c.close for c in candles], settings)

    windows = [int(n) for n in args.fit_candles.split(",")]
    closes = [c.close for c in generate_candles(count=max(args.candles, max(windows) + 100), seed=seeds[0])]
    for window in windows:
        request = first_fit_request(closes, window)
        report(f"first fit on {window:,} candles", best_of(args.repeat, both(
            lambda request=request: detector_module.fit_regime_model(request))))
    labelled = closes[:args.candles]
    report(f"label_history on {len(labelled):,} candles (seed {seeds[0]}, every fit in it)", best_of(
        args.repeat, both(lambda: label_history(labelled, settings, apply_after=APPLY_AFTER))))


if __name__ == "__main__":
    main()
