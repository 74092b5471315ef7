"""What higher timeframes cost: the aggregation per base candle, a backtest of `sma_cross_trend`
(sma_cross with a 1h trend filter) against `sma_cross` on the same candles, and ten such bots on
one stream sharing one aggregation against ten with their own.

    python bench/higher_timeframes.py [--repeat 5]

Runs on ../shared/data/BTC_USD-1m-2022-01.csv where it exists, else on 45,000 synthetic 1m
candles. Each figure is the best of `--repeat` interleaved rounds; loading is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from market.aggregate import Aggregator  # noqa: E402
from market.replay import ReplayProvider  # noqa: E402
from market.timeframes import HigherTimeframes  # noqa: E402
from real_candles import btc_candles  # noqa: E402
from runner.assembly.compose import compose_runner, sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402
from sim_throughput import interleaved_best  # noqa: E402
from strategies.features import FeatureHub  # noqa: E402

TREND = {"name": "sma_cross_trend", "params": {"fast": 10, "slow": 30, "trend_timeframe": "1h", "trend_period": 50}}
PLAIN = {"name": "sma_cross", "params": {"fast": 10, "slow": 30}}


def config(strategy: dict, bot_id: str = "bench") -> BotConfig:
    return BotConfig.model_validate({"id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
                                     "strategy": strategy, "risk": {"stake_pct": 0.99}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bots", type=int, default=10)
    args = parser.parse_args()
    logger.remove()
    candles, source = btc_candles()
    n = len(candles)
    results: dict[str, tuple[int, float]] = {}

    def aggregate() -> None:
        update = Aggregator("1m", "1h").update
        for candle in candles:
            update(candle)

    def views() -> None:
        on_candle = HigherTimeframes("BTC/USD", "1m", {"1h": 50}).on_candle
        for candle in candles:
            on_candle(candle)

    def backtest(name: str, strategy: dict):
        def run() -> None:
            runner = sim_runner(config(strategy), candles)
            asyncio.run(runner.run())
            results[name] = (len(runner.portfolio.trades), runner.portfolio.equity / 100_000 * 100 - 100)
        return run

    def many(shared: bool):
        async def run_all() -> None:
            hub = FeatureHub() if shared else None
            runners = [compose_runner(config(TREND, f"bot-{i}"), ReplayProvider("BTC/USD", "1m", candles),
                                      feature_hub=hub, stream_key="btc-1m" if shared else None)
                       for i in range(args.bots)]
            await asyncio.gather(*(r.run() for r in runners))
            if shared:
                results["aggregations"] = (len(hub.timeframes), 0.0)
        return lambda: asyncio.run(run_all())

    best = interleaved_best({"aggregate": aggregate, "views": views, "plain": backtest("plain", PLAIN),
                             "trend": backtest("trend", TREND), "own": many(False), "shared": many(True)}, args.repeat)
    print(f"data: {source} ({n:,} candles), best of {args.repeat} interleaved runs")
    print(f"  1m -> 1h aggregation alone              {best['aggregate'] / n * 1e9:>8,.0f} ns a base candle")
    print(f"  HigherTimeframes.on_candle (1h view)    {best['views'] / n * 1e9:>8,.0f} ns a base candle")
    for name, label in (("plain", "sma_cross backtest"), ("trend", "sma_cross_trend backtest (1h, SMA 50)")):
        trades, ret = results[name]
        print(f"  {label:<39} {n / best[name]:>8,.0f} candles/s, {trades} trades, return {ret:+.2f}%")
    print(f"  {args.bots} sma_cross_trend bots, own aggregation   {args.bots * n / best['own']:>8,.0f} candles/s")
    print(f"  {args.bots} sma_cross_trend bots, one shared        {args.bots * n / best['shared']:>8,.0f} candles/s "
          f"({results['aggregations'][0]} aggregation for the stream)")


if __name__ == "__main__":
    main()
