"""Candles per second through one sim bot's full pipeline, beside bare loops over the same candles.

    python bench/sim_throughput.py [--repeat 7] [--strategy sma_cross]

Runs on ../shared/data/BTC_USD-1m-2022-01.csv where it exists, else on 45,000 synthetic candles.
The pipeline is the runner of `botrunner backtest`: sim fills, portfolio marking, the risk
engine's kill checks, the strategy, journal, and the equity curve; run again with a strategy
that never signals, it gives the runner's own cost. The four loops take turns, `--repeat`
rounds, and each figure is its best round of CPU time; loading the candles is not timed. The
last line is the pipeline's time over the plain-Python SMA cross's in the same run: a ratio
holds on a busy machine where candles per second do not (issue 15 asks for at most 4x).

    data: BTC_USD-1m-2022-01.csv (45,031 candles), strategy sma_cross, best of 9 interleaved runs
      bare loop (read each close)        39,525,563 candles/s
      plain-Python sma cross, no fills    5,594,133 candles/s
      full pipeline (botrunner)             520,330 candles/s   (86.5 ms, 945 trades)
      pipeline cost per candle                1,922 ns
      of which the runner's own                 465 ns   (a strategy that never signals)
      pipeline / plain sma cross               10.8x slower

(CPU time; 2 cores shared with other work, load about 10. The runner's own work per candle,
with a strategy that never signals: sim fills asked for without a coroutine, the portfolio
marked, the equity curve, the view pushed, the kill and flatten checks; 717 ns before
`on_candle_now` and the batch's locals, 499 after, in one process. Of that, marking the
portfolio is about 110 ns, pushing the view 70, the counters 30-60. The strategy's two exact
SMAs and its crossing rule, in situ, about 560 ns (610 as two `SMA`s; on ETH/BTC 5m prices,
whose scaled ints pass 2**53, 690 against 960). The rest is the 1,890 orders and fills.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from real_candles import btc_candles  # noqa: E402
from runner.assembly.compose import sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402
from strategies.base import Strategy  # noqa: E402

PARAMS = {"sma_cross": {"fast": 10, "slow": 30}, "ema_cross": {"fast": 12, "slow": 26},
          "rsi_reversion": {}, "bollinger_breakout": {}}


def bare_loop(candles) -> float:
    """Touch every candle's close: the floor any pipeline pays."""
    total = 0.0
    for candle in candles:
        total += candle.close
    return total


def plain_sma_cross(candles, fast=10, slow=30) -> int:
    """The same strategy as a plain loop with no framework: rolling sums, a cross test, no fills."""
    closes = [c.close for c in candles]
    crosses, fsum, ssum, prev = 0, 0.0, 0.0, None
    for i, close in enumerate(closes):
        fsum += close - (closes[i - fast] if i >= fast else 0.0)
        ssum += close - (closes[i - slow] if i >= slow else 0.0)
        if i >= slow - 1:
            above = fsum / fast > ssum / slow
            if prev is not None and above != prev:
                crosses += 1
            prev = above
    return crosses


class NeverSignals(Strategy):
    """Reads each candle and never asks for a position: the pipeline's cost without the
    strategy's work or any order, that is the runner's own per candle."""

    name = "never_signals"

    def generate_signal(self, market_data) -> None:
        return None


def interleaved_best(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """The best CPU time of each function over `repeat` rounds, the functions taking turns in
    each round: on a shared machine a burst of load then slows all of them alike, and the
    ratios between them hold far better than medians taken one function after another. CPU
    time of this process (all of it single-threaded work) leaves out the time spent waiting
    for a core, which wall time on a loaded machine counts."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            started = time.process_time()
            fn()
            runs[name].append(time.process_time() - started)
    return {name: min(times) for name, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--strategy", default="sma_cross", choices=sorted(PARAMS))
    args = parser.parse_args()
    logger.remove()

    candles, source = btc_candles()
    config = BotConfig.model_validate({
        "id": "bench", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
        "strategy": {"name": args.strategy, "params": PARAMS[args.strategy]},
        "risk": {"stake_pct": 0.99}, "execution": {"fee_rate": 0.001, "slippage_bps": 0},
    })

    trades = []

    def pipeline() -> None:
        runner = sim_runner(config, candles, record_equity=True)
        asyncio.run(runner.run())
        trades.append(len(runner.portfolio.trades))

    def runner_alone() -> None:
        asyncio.run(sim_runner(config, candles, record_equity=True, strategy=NeverSignals(NeverSignals.Params())).run())

    n = len(candles)
    best = interleaved_best({"bare": lambda: bare_loop(candles), "plain": lambda: plain_sma_cross(candles),
                             "full": pipeline, "never": runner_alone}, args.repeat)
    bare, plain, full, never = best["bare"], best["plain"], best["full"], best["never"]
    print(f"data: {source} ({n:,} candles), strategy {args.strategy}, best of {args.repeat} interleaved runs")
    print(f"  bare loop (read each close)      {n / bare:>12,.0f} candles/s")
    print(f"  plain-Python sma cross, no fills {n / plain:>12,.0f} candles/s")
    print(f"  full pipeline (botrunner)        {n / full:>12,.0f} candles/s   ({full * 1000:.1f} ms, {trades[-1]} trades)")
    print(f"  pipeline cost per candle         {full / n * 1e9:>12,.0f} ns")
    print(f"  of which the runner's own        {never / n * 1e9:>12,.0f} ns   (a strategy that never signals)")
    print(f"  pipeline / plain sma cross       {full / plain:>12.1f}x slower")


if __name__ == "__main__":
    main()
