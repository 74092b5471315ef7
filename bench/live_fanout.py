"""One live candle to a hundred bots, without the network: what the fan-out costs, warm and cold.

    python bench/live_fanout.py [--bots 100] [--candles 300] [--sleep-ms 0,5,50] [--snapshots]
    python bench/live_fanout.py --second-stream [--bots 100] [--candles 300] [--snapshots] [--latest-ms 8]

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

`--second-stream` measures instead what the first stream's candle costs another stream's: a
second stream with one bot gets its candle 0 to `--latest-ms` after the first's (in 48 steps
from one candle to the next, as another market's candle comes in a few ms apart), while the
first stream's bots step and, with `--snapshots`, while their snapshots are made (8 ms covers
both at a hundred bots; 80 at a thousand). Printed: the delay from that candle's due time to
its bot past it (p50, p90, p99, max), in the loop thread's CPU time (the offsets too), 20 ms
between candles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WARM = 60
T0_MS = 1_699_999_980_000                          # a whole minute
OFFSET_STEPS = 48                                  # the second stream's candle: 0 to its latest, in 48 steps


def candle(i: int):
    """Rising by a cent a minute: no average crosses another, no bot sends an order."""
    from market.models import Candle

    price = 100.0 + i / 100
    return Candle(T0_MS + i * 60_000, price, price + 0.1, price - 0.1, price, 1.0)


@contextlib.asynccontextmanager
async def quiet_live_bots(bots_by_stream: list[int], snapshots: bool) -> AsyncIterator[tuple[list, object]]:
    """One `LiveCandleStream` for each count of `bots_by_stream`, each with that many quiet live
    bots running on it (made as the daemon makes them); yields the streams and the `Checkpoints`."""
    from bench.live_latency import KEYS, bot_config
    from execution.exchange import ExchangeAccounts
    from market.live_stream import LiveCandleStream
    from runner.assembly.compose import compose_runner
    from runner.daemon.checkpoints import Checkpoints
    from runner.daemon.startup_heap import collector_paused, freeze_startup_heap
    from runner.state.journal import SqliteJournal
    from runner.state.snapshots import SnapshotStore, SnapshotWriter

    def state_of(runner) -> dict:                 # what the daemon snapshots (`runner.daemon.manager`)
        state = runner.snapshot()
        state["journal_seq"] = runner.journal.last_seq
        return state

    class Started:                                # the bots are made, as the daemon's have started by then
        async def wait_started(self) -> None:
            pass

    with tempfile.TemporaryDirectory() as tmp:
        journal = SqliteJournal(Path(tmp) / "journal.sqlite3")
        writer = SnapshotWriter(SnapshotStore(Path(tmp) / "bots"))
        checkpoints = Checkpoints(writer, [journal.commit], journal.after_group_commit)
        accounts = ExchangeAccounts(environ=KEYS)
        streams, runners = [], []
        with collector_paused():                   # as the daemon starts its bots
            for symbol, bots in zip(("BTC/USDT", "ETH/USDT"), bots_by_stream):
                stream = LiveCandleStream(symbol, "1m", keep_history=WARM)
                stream.append([candle(i) for i in range(WARM)])
                for _ in range(bots):
                    # Every bot's config says BTC/USDT: the stream it is given is what it trades.
                    config = bot_config(len(runners), "http://127.0.0.1:9")   # never asked: a quiet bot makes no request
                    runners.append(compose_runner(
                        config, stream.subscribe(stream.released), account=accounts.get(config.exchange),
                        journal=journal.for_bot(config.id), checkpoint_interval_secs=0.0 if snapshots else float("inf"),
                        on_checkpoint=lambda runner: checkpoints.submit_soon(runner, state_of)))
                streams.append(stream)
            tasks = [asyncio.create_task(runner.run()) for runner in runners]
            await asyncio.sleep(0)
        # Frozen, as the daemon's: a full collection over the bots would be a pause on some candle.
        await freeze_startup_heap(Started())
        yield streams, checkpoints
        if any(runner.orders for runner in runners):
            raise SystemExit("a bot sent an order: the prices must not cross")
        for stream in streams:
            stream.end()
        await asyncio.gather(*tasks)
        checkpoints.close()
        journal.close()
        await accounts.aclose()


async def fan_out(bots: int, candles: int, sleep_ms: float, snapshots: bool) -> list[float]:
    """The loop thread's CPU seconds of each candle's fan-out to `bots` quiet live bots."""
    async with quiet_live_bots([bots], snapshots) as ([stream], checkpoints):
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
    return cpu[len(cpu) // 5:]                     # the first candles fill the caches and the journal


async def second_stream_delays(bots: int, candles: int, snapshots: bool, latest_ms: float) -> list[float]:
    """The loop thread's CPU seconds from the due time of a second stream's candle, 0 to
    `latest_ms` of that CPU after the first stream's candle to `bots` quiet bots, to the second
    stream's bot past it. CPU time, not wall: on a loaded machine the wall clock mostly measures
    the other processes taking the core."""
    async with quiet_live_bots([bots, 1], snapshots) as ([first, second], checkpoints):
        delays = []
        for n, i in enumerate(range(WARM, WARM + candles)):
            due = time.thread_time() + latest_ms / 1000 * (n % (OFFSET_STEPS + 1)) / OFFSET_STEPS
            done = (len(first._latencies), len(second._latencies))
            first.append([candle(i)])
            # Polled once a loop turn, the second candle comes in at the first turn past its due
            # time: after the callback running then (a bot's step, a batch of snapshots).
            while time.thread_time() < due:
                await asyncio.sleep(0)
            second.append([candle(i)])
            while len(second._latencies) == done[1]:
                await asyncio.sleep(0)
            delays.append(time.thread_time() - due)
            while len(first._latencies) == done[0]:
                await asyncio.sleep(0)
            await asyncio.sleep(0.02)              # the snapshots made and handed over meanwhile
            await checkpoints.aflush()
    return delays[len(delays) // 5:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--candles", type=int, default=300)
    parser.add_argument("--sleep-ms", default="0,5,50", help="pauses between candles, one process each (default 0,5,50)")
    parser.add_argument("--snapshots", action="store_true", help="each bot's snapshot written after every candle")
    parser.add_argument("--second-stream", action="store_true",
                        help="the delay of a second stream's candle arriving 0 to --latest-ms (of CPU) after the first's")
    parser.add_argument("--latest-ms", type=float, default=8.0, help="with --second-stream (default 8)")
    parser.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)   # a child process's pause
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    if args.second_stream:
        delays = asyncio.run(second_stream_delays(args.bots, args.candles, args.snapshots, args.latest_ms))
        ordered = [d * 1000 for d in sorted(delays)]
        print(f"second stream's candle, 0-{args.latest_ms:g} ms after the first's to {args.bots} bots"
              f"{' with their snapshots' if args.snapshots else ''}: delay to its bot past it (loop CPU) p50 "
              f"{ordered[len(ordered) // 2]:.2f} ms, p90 {ordered[len(ordered) * 9 // 10]:.2f} ms, "
              f"p99 {ordered[len(ordered) * 99 // 100]:.2f} ms, max {ordered[-1]:.2f} ms ({len(delays)} candles)")
        return
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
