"""Live bots against the Binance stand-in on loopback: candle arrival to order request, in-process.

    python bench/live_latency.py [--bots 100] [--candles 240]

Starts the stand-in (tests/exchange) on 127.0.0.1 and a BotManager with `--bots` live bots on
one exchange account and one symbol (so one shared candle subscription), with sma_cross at
mixed lengths so their signals spread over many candles. Time is the stand-in's: a bot
waiting for the next close moves it on, so the run is bounded by `--candles`.

Measured in this process, with two probes outside the code under test:
- arrival: when the shared live stream receives a closed candle from the feed;
- leaving: when a bot's order reaches the ccxt client's `create_order` (the request is built
  and sent from there);
the figure is leaving minus the arrival of the candle it was decided on, per order (p50, p99,
max). Also the account's requests per minute of exchange time, and orders sent twice (0).
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

from loguru import logger  # noqa: E402

from execution.exchange import ExchangeAccounts  # noqa: E402
from market.shared import FeedHub, LiveCandleStream  # noqa: E402
from runner.config import BotConfig  # noqa: E402
from runner.journal import SqliteJournal  # noqa: E402
from runner.manager import BotManager, DaemonServices  # noqa: E402
from runner.snapshots import SnapshotStore  # noqa: E402
from tests.exchange import BinanceStandIn, StandInClock
from tests.exchange.tapes import wavy_candles  # noqa: E402

T0_MS = 1_704_067_200_000
MIN = 60_000
KEYS = {"BENCH_KEY": "test-key", "BENCH_SECRET": "test-secret"}


def bot_config(i: int, base_url: str) -> BotConfig:
    fast = 2 + i % 4
    return BotConfig.model_validate({
        "id": f"live-{i:03d}", "mode": "live", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 1_000,
        "exchange": {"id": "binance", "base_url": base_url, "api_key_env": "BENCH_KEY", "secret_env": "BENCH_SECRET",
                     "poll_delay_secs": 0.5,
                     "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}},
        "strategy": {"name": "sma_cross", "params": {"fast": fast, "slow": fast + 3 + i % 7}},
        "risk": {"stake_pct": 0.5}, "on_restart": "resume",
    })


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--candles", type=int, default=240, help="closed candles to trade over")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")

    warm = 60
    candles = wavy_candles(warm + args.candles + 5)
    end_ms = T0_MS + (warm + args.candles) * MIN
    latencies: list[float] = []
    arrivals: list[float] = [0.0]
    async with BinanceStandIn(candles, balances={"USDT": 1_000 * args.bots * 2, "BTC": 0},
                              start_ms=T0_MS + warm * MIN) as standin:
        clock = StandInClock(standin)
        original_append = LiveCandleStream.append

        def timed_append(self, batch):             # probe: a closed candle arrives
            arrivals[0] = time.perf_counter()
            return original_append(self, batch)

        LiveCandleStream.append = timed_append
        with tempfile.TemporaryDirectory() as tmp:
            accounts = ExchangeAccounts(environ=KEYS, clock=clock)
            services = DaemonServices(hub=FeedHub(clock=clock), journal=SqliteJournal(Path(tmp) / "j.sqlite3"),
                                      snapshots=SnapshotStore(Path(tmp) / "bots"), clock=clock, accounts=accounts)
            configs = [bot_config(i, standin.base_url) for i in range(args.bots)]
            account = accounts.get(configs[0].exchange)
            create_order = account.client.create_order

            async def timed_create_order(*a, **kw):  # probe: an order leaves
                latencies.append(time.perf_counter() - arrivals[0])
                return await create_order(*a, **kw)

            account.client.create_order = timed_create_order
            manager = BotManager(configs, services, exit_when_done=False)
            stop = asyncio.Event()
            started_wall = time.perf_counter()
            running = asyncio.create_task(manager.run(stop))
            while standin.now_ms < end_ms:
                await asyncio.sleep(0.05)
            stop.set()
            await running
            wall = time.perf_counter() - started_wall
            requests = account.requests_total
            await services.aclose()
            services.journal.close()
        LiveCandleStream.append = original_append
        twice = sum(1 for n in standin.order_submissions.values() if n > 1)
        paths = __import__("collections").Counter(f"{r.method} {r.path}" for r in standin.requests)
        orders = len(standin.orders)

    latencies.sort()
    exchange_minutes = args.candles
    print(f"{args.bots} live bots, one account, one shared BTC/USDT 1m feed, {args.candles} candles "
          f"({wall:.1f} s of wall time)")
    print(f"  orders sent                 {orders:>8}   sent twice: {twice}")
    print(f"  candle arrival -> order out  p50 {pct(latencies, 0.5) * 1000:7.3f} ms   "
          f"p99 {pct(latencies, 0.99) * 1000:7.3f} ms   max {max(latencies, default=float('nan')) * 1000:7.3f} ms")
    print(f"  account requests            {requests:>8}   {requests / exchange_minutes:,.0f} per minute of exchange time")
    print("  requests by endpoint        " + ", ".join(f"{p} {n}" for p, n in paths.most_common()))
    if latencies:
        print(f"  mean                        {statistics.mean(latencies) * 1000:7.3f} ms over {len(latencies)} orders")


if __name__ == "__main__":
    asyncio.run(main())
