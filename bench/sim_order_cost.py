"""What one sim order costs the pipeline: a signal's decision and its fill, in situ and warm.

    python bench/sim_order_cost.py [--repeat 5]

The bot of `bench/sim_throughput.py` (sma_cross 10/30 on ../shared/data/BTC_USD-1m-2022-01.csv
where it exists, else 45,000 synthetic candles: 1,890 signals, each an order and its fill).
Issue 15 asks for about 4 us a signal, decision and fill, in situ.

- in situ: the runner's `_decide` (risk engine, order, journal intent, submit), the sim's
  `on_candle_now` on a candle that fills, and `_apply_fills` (portfolio, journal, post-trade
  checks), each timed per call (wall clock) inside a whole backtest. The medians of the three
  are summed: a call during which the process waited for a core, or the garbage collector ran,
  is left out. The mean, all the time spent in them over the signals, is printed beside it,
  with that time per candle: it has those waits and collections in it.
- warm: the same three calls back to back on one pair of candles, an entry and an exit in
  turn, 1,000 signals a round, in CPU time: the path with nothing between two signals.

Each figure is the best of `--repeat` rounds; the timing wrappers add about 0.1 us a call.

    data: BTC_USD-1m-2022-01.csv (45,031 candles), 1,890 signals, best of 3 rounds
      in situ, median per call   decide 8.95 us   fill 1.90 us   book 5.49 us   = 16.33 us a signal
      in situ, mean per signal   21.35 us   (896 ns a candle)
      warm, per signal           12.22 us

(2 cores shared with other work, load about 10. Run alternately with the tree before issue 15's work on the
order path (its `fill_pending` timed in place of `on_candle_now`), in the same minute:
decide 16.31 + fill 3.13 + book 8.71 = 28.15 us a signal, mean 36.60 us (1,536 ns a candle),
warm 23.85 us. The median in situ is about a third more than warm: between two signals the
strategy's candles, and other processes, push the order path out of the CPU's caches.)
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
from strategies.signal import Direction, Signal  # noqa: E402

CONFIG = {"id": "bench", "symbol": "BTC/USD", "timeframe": "1m", "capital": 100_000,
          "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
          "risk": {"stake_pct": 0.99}, "execution": {"fee_rate": 0.001, "slippage_bps": 0}}
clock = time.perf_counter


def in_situ(config: BotConfig, candles) -> tuple[dict[str, list[float]], int]:
    """One backtest with the three calls timed: each call's times, and the signals."""
    runner = sim_runner(config, candles)
    times: dict[str, list[float]] = {"decide": [], "fill": [], "book": []}
    decide, candle_now, book = runner._decide, runner.execution.on_candle_now, runner._apply_fills

    async def timed_decide(*args):
        started = clock()
        await decide(*args)
        times["decide"].append(clock() - started)

    def timed_candle_now(candle):
        started = clock()
        fills = candle_now(candle)
        if fills:                          # only a candle with a fill: the others are the runner's per-candle cost
            times["fill"].append(clock() - started)
        return fills

    def timed_book(*args):
        started = clock()
        book(*args)
        times["book"].append(clock() - started)

    runner._decide, runner.execution.on_candle_now, runner._apply_fills = timed_decide, timed_candle_now, timed_book
    asyncio.run(runner.run())
    return times, runner.signals


def warm(config: BotConfig, candles, signals: int = 1_000) -> float:
    """Seconds a signal with the order path in the caches: an entry and an exit in turn on two
    candles, each decided, filled and booked, the cash put back after each round trip."""
    async def rounds() -> float:
        runner = sim_runner(config, candles[:40])
        await runner.run()                 # a finished bot: its view holds candles, its book is flat
        entry, exit_ = Signal(Direction.LONG, "entry"), Signal(Direction.FLAT, "exit")
        first, second = candles[100], candles[101]
        started = time.process_time()      # CPU time: a batch's wall time includes the waits for a core
        for _ in range(signals // 2):
            for signal, decided_on, fills_on in ((entry, first, second), (exit_, second, first)):
                await runner._decide(signal, decided_on, decided_on.ts_ms + 60_000)
                runner._apply_fills(runner.execution.on_candle_now(fills_on), fills_on.ts_ms + 60_000)
            runner.portfolio.cash = config.capital
        assert runner.orders == runner.fills == signals, "every signal of the warm rounds is an order and a fill"
        return (time.process_time() - started) / signals
    return asyncio.run(rounds())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logger.remove()
    candles, source = btc_candles()
    config = BotConfig.model_validate(CONFIG)
    medians: dict[str, float] = {}
    best_mean, best_warm, signals = float("inf"), float("inf"), 0
    for _ in range(args.repeat):
        times, signals = in_situ(config, candles)
        for name, each in times.items():
            medians[name] = min(medians.get(name, float("inf")), statistics.median(each))
        best_mean = min(best_mean, sum(sum(each) for each in times.values()) / signals)
        best_warm = min(best_warm, warm(config, candles))
    per_signal = sum(medians.values())
    print(f"data: {source} ({len(candles):,} candles), {signals:,} signals, best of {args.repeat} rounds")
    print(f"  in situ, median per call   decide {medians['decide'] * 1e6:.2f} us   fill {medians['fill'] * 1e6:.2f} us"
          f"   book {medians['book'] * 1e6:.2f} us   = {per_signal * 1e6:.2f} us a signal")
    print(f"  in situ, mean per signal   {best_mean * 1e6:.2f} us   "
          f"({best_mean * signals / len(candles) * 1e9:.0f} ns a candle)")
    print(f"  warm, per signal           {best_warm * 1e6:5.2f} us")


if __name__ == "__main__":
    main()
