"""What governance costs: backtest candles per second of a governed bot against the same bot
ungoverned, and the time of one drift check (the backtest of a day of candles it runs in a
worker thread).

    python bench/governance.py [--repeat 5]

The same sma_cross bot on ../shared/data/BTC_USD-1m-2022-01.csv (45,000 synthetic candles where
it is missing), median of `--repeat` runs, loading not timed. The governed sim bot climbs the
ladder as a rehearsal (promotion after 50 trades); drift is checked for paper and live bots
only, so its cost is timed on its own: the drift backtest on 1,440 candles plus a warm-up.
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
from runner.assembly.compose import _drift_backtest, sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402

BASE = {"id": "bench-gov", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
        "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}}, "risk": {"stake_pct": 0.99}}


def run_secs(config: BotConfig, candles, repeat: int) -> tuple[float, int, str]:
    runs = []
    for _ in range(repeat):
        runner = sim_runner(config, candles)
        started = time.perf_counter()
        asyncio.run(runner.run())
        runs.append(time.perf_counter() - started)
    level = runner.governance.level.label if runner.governance is not None else "-"
    return statistics.median(runs), len(runner.portfolio.trades), level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logger.remove()
    candles, source = btc_candles()
    n = len(candles)
    print(f"data: {source} ({n:,} candles), sma_cross, median of {args.repeat} runs")
    governed = {**BASE, "governance": {"enabled": True}}
    for label, fields in (("ungoverned", BASE), ("governed", governed)):
        secs, trades, level = run_secs(BotConfig.model_validate(fields), candles, args.repeat)
        print(f"  {label:<12} {n / secs:>10,.0f} candles/s   ({secs * 1000:.0f} ms, {trades} trades, level {level})")
    backtest = _drift_backtest(BotConfig.model_validate(governed))
    window = candles[:1_440 + 30]
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        trades = backtest(window, 30)
        runs.append(time.perf_counter() - started)
    print(f"  drift check: backtest of 1,440 candles + 30 warm-up in {statistics.median(runs) * 1000:.1f} ms "
          f"({len(trades)} trades), in a worker thread every drift.every_candles candles")


if __name__ == "__main__":
    main()
