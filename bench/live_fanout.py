"""One live candle to a hundred bots, without the network: what the fan-out costs, warm and cold.

    python bench/live_fanout.py [--bots 100] [--candles 300] [--sleep-ms 0,5,50] [--snapshots]

`bench/live_latency.py` measures the fan-out of live candles on the stand-in among everything
else a live daemon does (18-24 us of CPU a bot on a loaded machine). This one isolates it: the
bots are made as the daemon makes them (`compose_runner`, live mode, a `LiveExecution` on an
exchange account never connected, an SQLite journal), on one `LiveCandleStream`, with prices
that rise slowly so no SMA crosses and no bot sends an order. Each candle is appended, and the
loop thread's CPU time is taken until every bot is past it (the stream's release latency,
appended once the last cursor asks for the next candle). With `--snapshots`, the daemon's
`Checkpoints` write each bot's snapshot after every candle (a 1m daemon's bots do), and the
next candle waits until they are on disk: the loop then waits on the writer's thread.

`--sleep-ms` sets pauses between candles, each measured in a fresh process: 0 runs the candles
back to back; a pause lets the loop sleep, as a daemon sleeps a minute between candles, and
the other processes of the machine take the core and its caches meanwhile. The gap between the
two is what the bots' code and data coming back from memory cost, not work done.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WARM = 60
T0_MS = 1_699_999_980_000                          # a whole minute


async def fan_out(bots: int, candles: int, sleep_ms: float, snapshots: bool) -> list[float]:
    """The loop thread's CPU seconds of each candle's fan-out to `bots` quiet live bots."""
    from bench.live_latency import KEYS, bot_config
    from execution.exchange import ExchangeAccounts
    from market.live_stream import LiveCandleStream
    from market.models import Candle
    from runner.assembly.compose import compose_runner
    from runner.daemon.checkpoints import Checkpoints
    from runner.state.journal import SqliteJournal
    from runner.state.snapshots import SnapshotStore, SnapshotWriter

    def state_of(runner) -> dict:                 # what the daemon snapshots (`runner.daemon.manager`)
        state = runner.snapshot()
        state["journal_seq"] = runner.journal.last_seq
        return state

    def candle(i: int) -> Candle:                 # rising by a cent a minute: no average crosses another
        price = 100.0 + i / 100
        return Candle(T0_MS + i * 60_000, price, price + 0.1, price - 0.1, price, 1.0)

    with tempfile.TemporaryDirectory() as tmp:
        journal = SqliteJournal(Path(tmp) / "journal.sqlite3")
        writer = SnapshotWriter(SnapshotStore(Path(tmp) / "bots"))
        checkpoints = Checkpoints(writer, [journal.commit], journal.after_group_commit)
        accounts = ExchangeAccounts(environ=KEYS)
        stream = LiveCandleStream("BTC/USDT", "1m", keep_history=WARM)
        stream.append([candle(i) for i in range(WARM)])
        runners = []
        for i in range(bots):
            config = bot_config(i, "http://127.0.0.1:9")       # never asked: a quiet bot makes no request
            runners.append(compose_runner(
                config, stream.subscribe(stream.released), account=accounts.get(config.exchange),
                journal=journal.for_bot(config.id), checkpoint_interval_secs=0.0 if snapshots else float("inf"),
                on_checkpoint=lambda runner: checkpoints.submit_soon(runner, state_of)))
        tasks = [asyncio.create_task(runner.run()) for runner in runners]
        await asyncio.sleep(0)
        latencies = stream._latencies              # appended to once the last bot is past a candle
        cpu = []
        for i in range(WARM, WARM + candles):
            done, started = len(latencies), time.thread_time()
            stream.append([candle(i)])
            while len(latencies) == done:
                await asyncio.sleep(0)
            cpu.append(time.thread_time() - started)
            await checkpoints.aflush()             # the snapshots written, as the daemon has by the next candle
            if sleep_ms:
                await asyncio.sleep(sleep_ms / 1000)
        if any(runner.orders for runner in runners):
            raise SystemExit("a bot sent an order: the prices must not cross")
        stream.end()
        await asyncio.gather(*tasks)
        checkpoints.close()
        journal.close()
        await accounts.aclose()
    return cpu[len(cpu) // 5:]                     # the first candles fill the caches and the journal



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--candles", type=int, default=300)
    parser.add_argument("--sleep-ms", default="0,5,50", help="pauses between candles, one process each (default 0,5,50)")
    parser.add_argument("--snapshots", action="store_true", help="each bot's snapshot written after every candle")
    parser.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)   # a child process's pause
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    if args.one is not None:
        cpu = asyncio.run(fan_out(args.bots, args.candles, args.one, args.snapshots))
        ordered = sorted(cpu)
        print(f"{args.one:g} ms between candles{', snapshots' if args.snapshots else ''}: fan-out CPU a bot: fastest {ordered[0] / args.bots * 1e6:.1f} us, "
              f"p10 {ordered[len(ordered) // 10] / args.bots * 1e6:.1f} us, median "
              f"{statistics.median(cpu) / args.bots * 1e6:.1f} us ({len(cpu)} candles, {args.bots} bots)")
        return
    for pause in args.sleep_ms.split(","):
        subprocess.run([sys.executable, __file__, "--bots", str(args.bots), "--candles", str(args.candles),
                        "--one", pause, *(["--snapshots"] if args.snapshots else [])], check=True)


if __name__ == "__main__":
    main()
