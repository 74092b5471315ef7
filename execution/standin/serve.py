"""Run a `BinanceStandIn` in a process of its own, for benchmarks: the exchange's work then
stays out of the event loop being measured, as a real exchange's does.

    python -m execution.standin.serve --candles 400 --start-bar 60 --balance USDT=200000 --balance BTC=0

It replays `tapes.wavy_candles(--candles)`, prints its base URL on one line once it listens,
and runs until its standard input closes (so it never outlives the process that started it).
Besides Binance's routes it serves two test-only ones: `POST /_standin/advance?ms=N` (moves the
clock, answers `{"now_ms"}`) and `GET /_standin/stats` (orders, orders sent twice, requests by
endpoint, requests refused by the rate limits). `execution.standin.clock.VirtualStandInClock`
drives the first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .binance_standin import BinanceStandIn
from .tapes import MINUTE_MS, T0_MS, wavy_candles


async def serve(candles: int, start_bar: int, balances: dict[str, float]) -> None:
    standin = BinanceStandIn(wavy_candles(candles), balances=balances, start_ms=T0_MS + start_bar * MINUTE_MS)
    await standin.start(control_routes=True)
    try:
        print(standin.base_url, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)     # returns at EOF: the parent is gone
    finally:
        await standin.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, required=True, help="length of the wavy 1m tape")
    parser.add_argument("--start-bar", type=int, default=0, help="the clock starts at this candle's open")
    parser.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT")
    args = parser.parse_args()
    balances = {asset: float(amount) for asset, amount in (b.split("=", 1) for b in args.balance)}
    asyncio.run(serve(args.candles, args.start_bar, balances))


if __name__ == "__main__":
    main()
