"""Candles per second through one sim bot's full pipeline, beside bare loops over the same candles.

    python bench/sim_throughput.py [--repeat 5] [--strategy sma_cross]

Runs on ../shared/data/BTC_USD-1m-2022-01.csv where it exists, else on 45,000 synthetic candles.
The pipeline is the runner of `botrunner backtest`: sim fills, portfolio marking, the risk
engine's kill checks, the strategy, journal, and the equity curve. Figures are the median of
`--repeat` runs; loading the candles is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from real_candles import btc_candles  # noqa: E402
from runner.assembly.compose import sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402

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


def time_it(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
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

    n = len(candles)
    bare = time_it(lambda: bare_loop(candles), args.repeat)
    plain = time_it(lambda: plain_sma_cross(candles), args.repeat)
    full = time_it(pipeline, args.repeat)
    print(f"data: {source} ({n:,} candles), strategy {args.strategy}, median of {args.repeat} runs")
    print(f"  bare loop (read each close)      {n / bare:>12,.0f} candles/s")
    print(f"  plain-Python sma cross, no fills {n / plain:>12,.0f} candles/s")
    print(f"  full pipeline (botrunner)        {n / full:>12,.0f} candles/s   ({full * 1000:.1f} ms, {trades[-1]} trades)")
    print(f"  pipeline cost per candle         {full / n * 1e9:>12,.0f} ns")


if __name__ == "__main__":
    main()
