"""What a restarted paper bot's replay of the candles missed while down costs per candle
(`runner.bot.limits_while_down`, called from `StrategyRunner.catch_up_exits`), in process, no
network: the candles are the ones the restart fetched; this is the CPU the bot spends on them
before its first live candle.

    python bench/missed_candles_replay.py [--counts 10000 100000] [--repeat 3]

Cases, each the worst of its kind (every missed candle is stepped one by one):

- `limit`: a good-till-cancelled bid no candle reaches, with its entry's stop beside it.
- `flatten`: a position with a stop, on a session whose flatten point is the last missed
  candle's close, or 23:59 for more than a day of candles (00:00-24:00 every day): a session
  flattens within a day, so the candles after it go to the exits' catch-up at once.
- `waiting`: a market order no quote could fill, placed before the first missed candle (it fills
  there, and its stop goes through the rest by the exits' catch-up).

Prints the best of `--repeat` per case, in microseconds of the thread's CPU time a missed candle
(CPU time rather than wall time: on a loaded machine the wall time mostly measures the others).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from execution.models import Fill, Order, OrderType, Side  # noqa: E402
from execution.paper import PaperExecution  # noqa: E402
from market.models import Candle  # noqa: E402
from market.session import TradingSession  # noqa: E402
from portfolio.portfolio import Portfolio  # noqa: E402
from risk.config import RiskConfig  # noqa: E402
from risk.engine import RuleRiskEngine  # noqa: E402
from runner.bot.strategy_runner import StrategyRunner  # noqa: E402
from runner.state.journal import MemoryJournal  # noqa: E402
from tests.fakes import QueuedFeed, Scripted  # noqa: E402

SYMBOL = "BTC/USDT"
MIN = 60_000
T0 = 1_704_067_200_000          # 2024-01-01 00:00 UTC


class NoQuotes:
    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        raise AssertionError("the replay reads no live quote")


def candles(count: int) -> list[Candle]:
    return [Candle(T0 + i * MIN, 100.0, 100.5 + i % 7 * 0.1, 99.5 - i % 5 * 0.1, 100.0, 1.0) for i in range(count)]


def runner_for(case: str, count: int) -> StrategyRunner:
    engine = PaperExecution(NoQuotes(), SYMBOL, fee_rate=0.001, now_ms=lambda: T0)
    session = None
    if case == "flatten":     # its flatten point: the last missed candle's close, or 23:59 (candle 1,438)
        session = TradingSession("UTC", 0, min(count + 1, 1440), range(7), flatten_at_close=True)
    runner = StrategyRunner("bench", feed=QueuedFeed(SYMBOL), strategy=Scripted({}), execution=engine,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1)),
                            portfolio=Portfolio(SYMBOL, 10_000.0), journal=MemoryJournal(), order_id_prefix="b-",
                            session=session)
    stop = Order("b-0-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=50.0, oco_group="b-0")
    if case == "limit":
        runner.restore_orders([Order("b-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=90.0,
                                     created_ts_ms=T0 - MIN), stop])
    elif case == "flatten":
        runner.book_journalled_fills([Fill("b-0", SYMBOL, Side.BUY, 1.0, 100.0, 0.0, T0 - 5 * MIN)])
        runner.restore_orders([stop])
    else:
        runner.restore_orders([Order("b-1", SYMBOL, Side.BUY, OrderType.MARKET, quantity=1.0, created_ts_ms=T0,
                                     stop_loss_pct=0.5)])
    runner.last_candle_ts_ms = T0 - MIN
    return runner


async def best_us(case: str, count: int, repeat: int) -> float:
    missed = candles(count)
    best = float("inf")
    for _ in range(repeat):
        runner = runner_for(case, count)
        started = time.thread_time()      # CPU time: the machine's other work leaves it be
        await runner.catch_up_exits(missed)
        best = min(best, time.thread_time() - started)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--cases", nargs="+", default=["limit", "flatten", "waiting"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logger.remove()
    for count in args.counts:
        for case in args.cases:
            us = asyncio.run(best_us(case, count, args.repeat))
            print(f"{case:>8} {count:>7,} missed candles: {us:6.2f} us a candle ({us * count / 1e6:.2f} s)")


if __name__ == "__main__":
    main()
