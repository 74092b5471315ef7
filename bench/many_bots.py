"""Many sim bots in one daemon process: start-up, memory, throughput and candle latency.

    python bench/many_bots.py [--bots 1000] [--streams 10] [--candles 300] [--speed 600]

Writes `--bots` bot configs as YAML files into a temporary config folder and starts the daemon's
BotManager in this process on them (real journal, snapshots and shared feeds in a temporary
state folder). Bots are spread over `--streams` shared candle streams (synthetic, seeded) and
over the four built-in strategies. Two phases, each bounded:

1. paced: candles are released at `--speed` times real time (600: ten 1m candles a second)
   for `--candles` candles; prints start-up time (from reading the configs to every bot
   running), RSS in all and per bot, and the latency from a candle's release to every bot of
   its stream having finished its step (p50, p99, max);
2. fast: the same bots over `--fast-candles` candles with no pacing: aggregate candles per
   second for all bots together.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from market.shared import FeedHub  # noqa: E402
from runner.daemon.process import freeze_startup_heap  # noqa: E402
from runner.config.daemon import load_config_dir  # noqa: E402
from runner.state.journal import SqliteJournal  # noqa: E402
from runner.daemon.manager import BotManager, DaemonServices  # noqa: E402
from runner.state.snapshots import SnapshotStore  # noqa: E402

STRATEGIES = [
    ("sma_cross", "{fast: 10, slow: 30}"),
    ("ema_cross", "{fast: 12, slow: 26}"),
    ("rsi_reversion", "{period: 14}"),
    ("bollinger_breakout", "{period: 20, dev: 2.0}"),
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_configs(folder: Path, bots: int, streams: int, candles: int, speed: float | None) -> None:
    (folder / "bots").mkdir(parents=True, exist_ok=True)
    (folder / "daemon.yaml").write_text("snapshot_interval_secs: 30\n")
    for i in range(bots):
        name, params = STRATEGIES[i % len(STRATEGIES)]
        (folder / "bots" / f"bot-{i:04d}.yaml").write_text(
            f"id: bot-{i:04d}\nsymbol: BTC/USDT\ntimeframe: 1m\ncapital: 10000\n"
            f"market: {{source: synthetic, seed: {i % streams}, bars: {candles}, start_price: 30000}}\n"
            f"strategy: {{name: {name}, params: {params}}}\n"
            f"risk: {{stake_pct: 0.5, stop_loss_pct: 0.02}}\n"
            + (f"speed: {speed}\n" if speed else ""))


async def phase(folder: Path, state: Path, *, paced: bool) -> dict:
    started = time.perf_counter()
    daemon, configs = load_config_dir(folder)
    state.mkdir(parents=True, exist_ok=True)
    journal = SqliteJournal(state / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(state / "bots"))
    manager = BotManager(configs, services, snapshot_interval_secs=daemon.snapshot_interval_secs)
    stop = asyncio.Event()
    run_started = time.perf_counter()
    running = asyncio.create_task(manager.run(stop))
    freeze = asyncio.create_task(freeze_startup_heap(manager))          # as the daemon does
    while not all(s.state in ("running", "finished") for s in manager.statuses()):
        await asyncio.sleep(0.01)
    startup_s = time.perf_counter() - started
    rss_running = rss_mb()
    await running
    freeze.cancel()
    elapsed = time.perf_counter() - run_started
    statuses = manager.statuses()
    latencies = sorted(x for stream in services.hub.streams().values() for x in stream.release_latencies)
    await services.hub.aclose()
    services.close()
    journal.close()
    return {"startup_s": startup_s, "rss_running_mb": rss_running, "rss_end_mb": rss_mb(), "elapsed_s": elapsed,
            "candles": sum(s.bars for s in statuses), "failed": sum(s.state == "failed" for s in statuses),
            "latencies": latencies, "bots": len(statuses)}


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--candles", type=int, default=300, help="candles per stream in the paced phase")
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--fast-candles", type=int, default=2000)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    base_rss = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_configs(tmp_path / "paced", args.bots, args.streams, args.candles, args.speed)
        paced = await phase(tmp_path / "paced", tmp_path / "state-paced", paced=True)
        write_configs(tmp_path / "fast", args.bots, args.streams, args.fast_candles, None)
        fast = await phase(tmp_path / "fast", tmp_path / "state-fast", paced=False)

    lat = paced["latencies"]
    per_bot_kb = (paced["rss_running_mb"] - base_rss) * 1024 / args.bots
    print(f"{args.bots} bots on {args.streams} shared streams, strategies mixed")
    print(f"  start-up (read {args.bots} configs .. all running)   {paced['startup_s']:8.2f} s")
    print(f"  RSS with all bots running                        {paced['rss_running_mb']:8.1f} MB in all "
          f"({base_rss:.1f} MB before), {per_bot_kb:.0f} KB per bot")
    print(f"  RSS at the end of the paced phase                {paced['rss_end_mb']:8.1f} MB")
    print(f"  paced: {args.candles} candles at {args.speed:g}x, {len(lat)} releases measured")
    print(f"  candle release -> every bot done      p50 {pct(lat, 0.5) * 1000:8.2f} ms   "
          f"p99 {pct(lat, 0.99) * 1000:8.2f} ms   max {max(lat, default=float('nan')) * 1000:8.2f} ms")
    print(f"  fast: {fast['candles']:,} candles in {fast['elapsed_s']:.2f} s  "
          f"-> {fast['candles'] / fast['elapsed_s']:,.0f} candles/s aggregate")
    print(f"  failed bots: {paced['failed'] + fast['failed']}")


if __name__ == "__main__":
    asyncio.run(main())
