"""Candles per second of a hybrid bot's backtest with its model replayed from a forecast file.

    python bench/hybrid_backtest.py [--repeat 3] [--every 15]

Runs on ../shared/data/BTC_USD-1m-2022-01.csv where it exists, else on 45,000 synthetic candles.
First it records forecasts of the reference model (AR(5) on the last 100 closes, a 15-minute
horizon) every `--every` candles into a replay file, as `botrunner forecasts --export` would;
that is not timed. Then it times the backtest of the `hybrid` strategy (EMA, RSI, Bollinger and
VWAP features, the model's vote) reading the model from that file, against the same strategy
with no model, and prints both. Figures are the median of `--repeat` runs, loading not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from loguru import logger  # noqa: E402

from market.forecast import Forecast  # noqa: E402
from real_candles import btc_candles  # noqa: E402
from runner.assembly.compose import sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402
from runner.forecast.reference_model import ar_forecast  # noqa: E402
from runner.forecast.replay import write_forecasts  # noqa: E402

MINUTE_MS, HORIZON_MIN, WINDOW = 60_000, 15, 100


def record_forecasts(candles, every: int, path: Path) -> int:
    """The reference model's forecasts at the close of every `every`-th candle (the interval
    trigger's candles), written as a replay file."""
    closes = np.array([c.close for c in candles])
    forecasts = []
    for i in range(WINDOW, len(candles), every):
        answer = ar_forecast(closes[i - WINDOW + 1:i + 1], steps=HORIZON_MIN)
        forecasts.append(Forecast("ar5", "BTC/USD", candles[i].ts_ms + MINUTE_MS, HORIZON_MIN * MINUTE_MS,
                                  candles[i].close, answer.predicted_return, answer.direction, answer.confidence,
                                  "interval"))
    return write_forecasts(path, forecasts)


def backtest_secs(config: BotConfig, candles, repeat: int) -> tuple[float, int]:
    runs, trades = [], 0
    for _ in range(repeat):
        runner = sim_runner(config, candles)

        async def run() -> None:
            try:
                await runner.run()
            finally:
                await runner.aclose()

        started = time.perf_counter()
        asyncio.run(run())
        runs.append(time.perf_counter() - started)
        trades = len(runner.portfolio.trades)
    return statistics.median(runs), trades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--every", type=int, default=15, help="candles between model calls (the interval)")
    args = parser.parse_args()
    logger.remove()
    candles, source = btc_candles()
    base = {"id": "bench-hybrid", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
            "strategy": {"name": "hybrid", "params": {"model_threshold": 0.001}},
            "risk": {"stake_pct": 0.99}, "execution": {"fee_rate": 0.001}}
    with tempfile.TemporaryDirectory() as folder:
        replay = Path(folder) / "forecasts.jsonl"
        recorded = record_forecasts(candles, args.every, replay)
        with_model = BotConfig.model_validate({**base, "model": {"replay": str(replay), "horizon": f"{HORIZON_MIN}m"},
                                               "triggers": [{"kind": "interval", "every": f"{args.every}m"}]})
        model_secs, model_trades = backtest_secs(with_model, candles, args.repeat)
        alone_secs, alone_trades = backtest_secs(BotConfig.model_validate(base), candles, args.repeat)
    n = len(candles)
    print(f"data: {source} ({n:,} candles), hybrid strategy, median of {args.repeat} runs")
    print(f"  model replayed ({recorded:,} forecasts)  {n / model_secs:>10,.0f} candles/s   "
          f"({model_secs * 1000:.0f} ms, {model_trades} trades)")
    print(f"  no model, features only          {n / alone_secs:>10,.0f} candles/s   "
          f"({alone_secs * 1000:.0f} ms, {alone_trades} trades)")


if __name__ == "__main__":
    main()
