"""What plugins cost a backtest: one sim bot over the same candles without plugins, with one
that only looks at signals, and with one whose hooks run on every candle.

    python bench/plugins.py [--repeat 7]

Runs on ../shared/data/BTC_USD-1m-2022-01.csv where it exists, else on 45,000 synthetic
candles, with sma_cross 10/30 (its 945 trades on the BTC month). The three runs take turns,
`--repeat` rounds, and each figure is its best round (see bench/sim_throughput.py). A bot
without plugins pays one `is None` check per candle; a plugin pays for the hooks it overrides:
`before_signal` and `after_signal` once per signal, `before_loop` and `after_loop` twice a candle.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from real_candles import btc_candles  # noqa: E402
from runner.assembly.compose import sim_runner  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402
from runner.plugins import Plugin  # noqa: E402
from sim_throughput import interleaved_best  # noqa: E402


class SignalWatcher(Plugin):
    """Counts the signals and lets them all through: hooks on signals only."""

    name = "signal_watcher"

    def __init__(self) -> None:
        super().__init__(Plugin.Params())
        self.signals = 0

    def before_signal(self, bot_id, view, signal):
        self.signals += 1
        return None


class CandleWatcher(Plugin):
    """Reads every candle before and after the strategy: hooks on every candle."""

    name = "candle_watcher"

    def __init__(self) -> None:
        super().__init__(Plugin.Params())
        self.widest = 0.0

    def before_loop(self, bot_id, view):
        candle = view.candle
        self.widest = max(self.widest, candle.high - candle.low)

    def after_loop(self, bot_id, view):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    logger.remove()

    candles, source = btc_candles()
    config = BotConfig.model_validate({
        "id": "bench", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
        "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
        "risk": {"stake_pct": 0.99}, "execution": {"fee_rate": 0.001, "slippage_bps": 0},
    })
    trades: dict[str, int] = {}

    def run(name: str, plugin_class: type[Plugin] | None):
        def once() -> None:
            runner = sim_runner(config, candles, record_equity=True,
                                plugins=None if plugin_class is None else [plugin_class()])
            asyncio.run(runner.run())
            trades[name] = len(runner.portfolio.trades)
        return once

    best = interleaved_best({"none": run("none", None), "signals": run("signals", SignalWatcher),
                             "candles": run("candles", CandleWatcher)}, args.repeat)
    n = len(candles)
    print(f"data: {source} ({n:,} candles), sma_cross 10/30, best of {args.repeat} interleaved runs")
    for name, what in (("none", "no plugins"), ("signals", "before_signal only"),
                       ("candles", "before_loop + after_loop")):
        extra = (best[name] - best["none"]) / n * 1e9
        print(f"  {what:<26} {n / best[name]:>10,.0f} candles/s  {best[name] / n * 1e9:>6,.0f} ns a candle"
              f"  ({extra:+,.0f} ns; {trades[name]} trades)")


if __name__ == "__main__":
    main()
