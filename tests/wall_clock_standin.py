"""The Binance stand-in on the wall clock, for the tests that run a daemon or a bot in real time
(a daemon process, websocket candles, notifications, cluster nodes): nothing sleeps on a clock
of the test's, so the stand-in follows the wall clock and replays one-second candles around now.

    async with wall_clock_standin(600) as standin:      # ten minutes of 1s candles after the warm-up
        ...
"""

from __future__ import annotations

import time

from execution.standin import BinanceStandIn
from execution.standin.tapes import quick_swings

WARM_CANDLES = 20


def wall_clock_standin(candles: int, *, warm_candles: int = WARM_CANDLES) -> BinanceStandIn:
    """A stand-in (not started: `async with` it) on 10,000 USDT replaying `quick_swings` 1s candles
    in real time: `warm_candles` closed before now, so a bot has history at once, then `candles`
    more, from the current second on."""
    now_ms = time.time_ns() // 1_000_000
    tape = quick_swings(warm_candles + candles, start_ms=now_ms - now_ms % 1000 - warm_candles * 1000)
    return BinanceStandIn(tape, balances={"USDT": 10_000, "BTC": 0}, start_ms=now_ms, real_time=True,
                          timeframe_ms=1000)
