"""What a restarted paper or live bot's protective exits cost to catch up on a long downtime
(`runner.assembly.catch_up_history`): the candles paged from the exchange (requests, seconds,
the memory they take) and a trailing stop and stop-loss put through them.

    python bench/exit_catch_up.py [--counts 5000 20000 100000] [--repeat 3]

On the Binance stand-in over HTTP on 127.0.0.1 through the real ccxt client, its rate limiter
off: no network here. On Binance each request adds its round trip and ccxt's 50 ms between
requests, so count about 0.1-0.3 s a request on top of the seconds printed. Times: best of
`--repeat`; memory: the peak traced while the candles are fetched, once (tracing slows it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution.models import Order, OrderType, Side  # noqa: E402
from execution.protective import protective_exits  # noqa: E402
from execution.sim import SimExecution  # noqa: E402
from execution.standin import BinanceStandIn, FastForwardClock  # noqa: E402
from execution.standin.ccxt_client import make_ccxt_client  # noqa: E402
from execution.standin.tapes import wavy_candles  # noqa: E402
from market.ccxt_feed import CcxtCandleFeed  # noqa: E402


async def measure(count: int, repeat: int) -> None:
    tape = wavy_candles(count + 10)
    fetch_secs = catch_up_secs = float("inf")
    async with BinanceStandIn(tape, balances={"USDT": 10_000, "BTC": 0}, start_ms=tape[-1][0]) as standin:
        client = make_ccxt_client(standin)
        try:
            for attempt in range(repeat + 1):
                feed = CcxtCandleFeed(client, "BTC/USDT", "1m", clock=FastForwardClock(standin))
                asked = len(standin.requests)
                traced = attempt == 0              # the memory, once: tracing slows the fetch down
                if traced:
                    tracemalloc.start()
                started = time.perf_counter()
                candles = await feed.history(count)
                if traced:
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                else:
                    fetch_secs = min(fetch_secs, time.perf_counter() - started)
                requests = sum(1 for r in standin.requests[asked:] if r.path == "/api/v3/klines")
                await feed.aclose()
                entry = Order("e-1", "BTC/USDT", Side.BUY, OrderType.MARKET, quote_amount=1_000.0,
                              stop_loss_pct=0.1, trailing_stop_pct=0.1)       # never reached on this tape
                sim = SimExecution(fee_rate=0.0)
                sim.restore_orders(protective_exits(entry, "BTC/USDT", quantity=0.03, avg_price=30_000.0, ts_ms=0))
                started = time.perf_counter()
                await sim.catch_up_exits(candles)
                catch_up_secs = min(catch_up_secs, time.perf_counter() - started)
        finally:
            await client.close()
    print(f"{len(candles):>7,} candles: {requests:>3} klines requests, fetched in {fetch_secs:.2f} s "
          f"(peak {peak / 1e6:.1f} MB traced), exits caught up in {catch_up_secs * 1000:.1f} ms "
          f"({catch_up_secs / len(candles) * 1e6:.2f} us a candle)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[5_000, 20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for count in args.counts:
        asyncio.run(measure(count, args.repeat))


if __name__ == "__main__":
    main()
