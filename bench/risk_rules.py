"""Backtest candles per second with no risk rule enabled, and with every rule of issue 11.

    python bench/risk_rules.py [--repeat 5]

The same sma_cross bot on ../shared/data/BTC_USD-1m-2022-01.csv (45,000 synthetic candles where
it is missing), through `botrunner backtest`'s pipeline, median of `--repeat` runs, loading not
timed. "Every rule": a stop-loss and an ATR trailing stop, max order notional, price collar,
daily target, volatility breaker, VaR limit, the three protections and the fill-deviation check.
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

EVERY_RULE = {
    "stake_pct": 0.9, "stop_loss_pct": 0.01, "trailing_stop_atr": {"multiple": 3, "period": 14},
    "max_order_notional": 50_000, "price_collar_pct": 0.05, "price_collar_window": 20, "daily_target_pct": 0.05,
    "max_fill_deviation_pct": 0.02,
    "volatility_breaker": {"window": 60, "threshold": 0.01, "cooldown_candles": 30, "action": "pause"},
    "var": {"window": 1440, "confidence": 0.95, "method": "historical", "limit_pct": 0.05},
    "protections": {"cooldown_after_stop_candles": 10, "max_losing_streak": 4, "streak_pause_candles": 60,
                    "lookback_drawdown": {"window_candles": 1440, "max_pct": 0.1, "pause_candles": 240}},
}


def run_secs(config: BotConfig, candles, repeat: int) -> tuple[float, int, int]:
    runs = []
    for _ in range(repeat):
        runner = sim_runner(config, candles)
        started = time.perf_counter()
        asyncio.run(runner.run())
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), len(runner.portfolio.trades), sum(runner.risk_blocks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logger.remove()
    candles, source = btc_candles()
    base = {"id": "bench-risk", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
            "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}}}
    n = len(candles)
    print(f"data: {source} ({n:,} candles), sma_cross, median of {args.repeat} runs")
    for label, risk in (("no rule enabled", {"stake_pct": 0.99}), ("every rule of issue 11", EVERY_RULE)):
        secs, trades, blocks = run_secs(BotConfig.model_validate({**base, "risk": risk}), candles, args.repeat)
        print(f"  {label:<24} {n / secs:>10,.0f} candles/s   ({secs * 1000:.0f} ms, {trades} trades, "
              f"{blocks} signals blocked or resized)")


if __name__ == "__main__":
    main()
