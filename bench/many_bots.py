"""Many sim bots in one daemon process: start-up, memory, throughput and candle latency.

    python bench/many_bots.py [--bots 1000] [--streams 10] [--candles 300] [--speed 600]
    python bench/many_bots.py --curve 100,1000,3000,10000 --candles 60 --speed 60 --fast-candles 100

Writes `--bots` bot configs as YAML files into a temporary config folder and starts the daemon's
BotManager in this process on them (real journal, snapshots and shared feeds in a temporary
state folder), as `botrunner run` does: the collector paused while configs are read and bots
start, the start-up heap frozen after. Bots are spread over `--streams` shared candle streams
(synthetic, seeded) and over the four built-in strategies. Two phases, each bounded:

1. paced: candles are released at `--speed` times real time (600: ten 1m candles a second)
   for `--candles` candles; prints start-up time (from reading the configs to every bot
   running), RSS in all and per bot, and the latency from a candle's release to every bot of
   its stream having finished its step (p50, p99, max; over every release, and over those
   after start-up). The cost per bot-candle is the process's CPU time (every thread: the loop,
   SQLite, the snapshot writer) from the end of start-up to the end of the phase, over the
   bot-candles stepped in that time;
2. fast: the same bots over `--fast-candles` candles with no pacing: aggregate candles per
   second for all bots together, start-up included.

`--curve` runs the whole bench once per bot count, each in a fresh process, with
`--bots-per-stream` bots on each stream, and prints one line per count: whether the cost per
bot-candle stays flat as bots are added.

`--control-poll SECS` measures instead what the control API costs the candles: the paced phase
twice with the daemon's control API listening on a Unix socket (its dashboard feed included),
first with nobody asking, then with a client in another process asking for every bot's status
(`GET /bots`, what `botrunner status` asks) and `GET /metrics` every SECS once start-up is over.
Prints, for both, the candle latency after start-up and the longest the event loop was late
while candles were paced (a task that sleeps 1 ms at a time), and the client's request times.

    python bench/many_bots.py --bots 10000 --streams 100 --candles 60 --speed 60 --control-poll 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from market.shared import FeedHub  # noqa: E402
from runner.daemon.startup_heap import collector_paused, freeze_startup_heap  # noqa: E402
from runner.config.daemon import load_config_dir  # noqa: E402
from runner.state.journal import SqliteJournal  # noqa: E402
from runner.control.server import serve_control  # noqa: E402
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


class GcPauses:
    """Wall time the collector spends, from `gc.callbacks`: the total and the longest pause."""

    def __init__(self) -> None:
        self.total_s = 0.0
        self.max_s = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._started
            self.total_s += pause
            self.max_s = max(self.max_s, pause)


# The client of --control-poll, in its own process so that its parsing takes no time from the
# daemon's loop: asks for /bots and /metrics every argv[2] seconds, one line per answer.
POLL_CLIENT = """
import asyncio, sys, time, aiohttp
async def main(path, every):
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as session:
        while True:
            for url in ("http://botrunner/bots", "http://botrunner/metrics"):
                started = time.perf_counter()
                async with session.get(url) as response:
                    body = await response.read()
                print(url.rsplit("/", 1)[1], response.status, time.perf_counter() - started, len(body), flush=True)
            await asyncio.sleep(every)
asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


class LoopLag:
    """The longest the event loop was late waking a task that sleeps `interval_secs` at a time,
    until `done()`: the paced candles, not the bots' final snapshots when the data runs out."""

    def __init__(self, done: Callable[[], bool], interval_secs: float = 0.001) -> None:
        self.done = done
        self.interval_secs = interval_secs
        self.max_s = 0.0

    async def run(self) -> None:
        while not self.done():
            started = time.perf_counter()
            await asyncio.sleep(self.interval_secs)
            self.max_s = max(self.max_s, time.perf_counter() - started - self.interval_secs)


@contextlib.asynccontextmanager
async def control_load(manager: BotManager, poll_secs: float | None, figures: dict):
    """The control API on a Unix socket while the phase runs; with `poll_secs`, a client process
    asking for /bots and /metrics once start-up is over (`figures["start_polling"]()`)."""
    sock_dir = Path(tempfile.mkdtemp(prefix="br-bench-", dir="/tmp"))
    server = await serve_control(manager, socket_path=sock_dir / "botrunner.sock")
    client: asyncio.subprocess.Process | None = None

    async def start_polling() -> None:
        nonlocal client
        if poll_secs is not None:
            client = await asyncio.create_subprocess_exec(
                sys.executable, "-c", POLL_CLIENT, str(sock_dir / "botrunner.sock"), str(poll_secs),
                stdout=asyncio.subprocess.PIPE)

    figures["start_polling"] = start_polling
    try:
        yield
    finally:
        if client is not None:
            client.terminate()
            out, _ = await client.communicate()
            answers = [line.split() for line in out.decode().splitlines()]
            figures["requests"] = [(path, int(status), float(secs), int(size)) for path, status, secs, size in answers]
        await server.aclose()
        sock_dir.rmdir()


async def phase(folder: Path, state: Path, *, paced: bool, control_poll_secs: float | None = None,
                control: bool = False) -> dict:
    started = time.perf_counter()
    thresholds = gc.get_threshold()
    with collector_paused():                                          # as the daemon reads its configs
        daemon, configs = load_config_dir(folder)
    state.mkdir(parents=True, exist_ok=True)
    journal = SqliteJournal(state / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(state / "bots"))
    manager = BotManager(configs, services, snapshot_interval_secs=daemon.snapshot_interval_secs)
    stop = asyncio.Event()
    control_figures: dict = {}
    serving = control_load(manager, control_poll_secs, control_figures) if control else contextlib.nullcontext()
    await serving.__aenter__()
    run_started = time.perf_counter()
    running = asyncio.create_task(manager.run(stop))
    freeze = asyncio.create_task(freeze_startup_heap(manager))          # as the daemon does
    await manager.wait_started(poll_secs=0.01)
    # The streams as start-up left them, read once: the probe wakes every millisecond, and a copy
    # of the hub's table each time was the bench's own cost on the candles (~1% of the loop).
    started_streams = list(services.hub.streams().values())
    lag = LoopLag(lambda: all(stream.finished for stream in started_streams))
    lagging = asyncio.create_task(lag.run())
    if control:
        await control_figures["start_polling"]()
    startup_s = time.perf_counter() - started
    rss_running = rss_mb()
    streams = services.hub.streams().values()
    # Each bot has stepped (about) every candle released so far: the candles before this point.
    bot_candles_at_startup = sum(stream.released * stream.subscribers for stream in streams)
    releases_at_startup = {id(stream): len(stream.release_latencies) for stream in streams}
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    try:
        await running
    finally:
        gc.callbacks.remove(pauses)
        lagging.cancel()
        await serving.__aexit__(None, None, None)
    cpu_s, wall_s = time.process_time() - cpu_started, time.perf_counter() - wall_started
    await freeze
    elapsed = time.perf_counter() - run_started
    statuses = manager.statuses()
    streams = services.hub.streams().values()
    latencies = sorted(x for stream in streams for x in stream.release_latencies)
    after_startup = sorted(x for stream in streams
                           for x in stream.release_latencies[releases_at_startup.get(id(stream), 0):])
    await services.hub.aclose()
    services.close()
    journal.close()
    candles, failed = sum(s.bars for s in statuses), sum(s.state == "failed" for s in statuses)
    del manager, services, statuses, streams
    gc.unfreeze()                      # the next phase starts from an unfrozen heap, as a new daemon would
    gc.set_threshold(*thresholds)
    gc.collect()
    return {"startup_s": startup_s, "rss_running_mb": rss_running, "rss_end_mb": rss_mb(), "elapsed_s": elapsed,
            "candles": candles, "failed": failed,
            "latencies": latencies, "latencies_after_startup": after_startup, "bots": len(configs),
            "cpu_s": cpu_s, "wall_s": wall_s, "bot_candles_after_startup": candles - bot_candles_at_startup,
            "gc_total_s": pauses.total_s, "gc_max_s": pauses.max_s, "loop_lag_max_s": lag.max_s,
            "requests": control_figures.get("requests", [])}


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


async def measure(args: argparse.Namespace) -> dict:
    """Both phases for `args.bots` bots; the figures as one dict (see `report`)."""
    base_rss = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_configs(tmp_path / "paced", args.bots, args.streams, args.candles, args.speed)
        paced = await phase(tmp_path / "paced", tmp_path / "state-paced", paced=True)
        write_configs(tmp_path / "fast", args.bots, args.streams, args.fast_candles, None)
        fast = await phase(tmp_path / "fast", tmp_path / "state-fast", paced=False)
    lat, later = paced["latencies"], paced["latencies_after_startup"]
    bot_candles = paced["bot_candles_after_startup"]
    return {
        "bots": args.bots, "streams": args.streams, "base_rss_mb": base_rss,
        "startup_s": paced["startup_s"], "rss_running_mb": paced["rss_running_mb"], "rss_end_mb": paced["rss_end_mb"],
        "releases": len(lat), "p50_s": pct(lat, 0.5), "p99_s": pct(lat, 0.99), "max_s": max(lat, default=float("nan")),
        "releases_after_startup": len(later), "p50_after_startup_s": pct(later, 0.5),
        "p99_after_startup_s": pct(later, 0.99), "max_after_startup_s": max(later, default=float("nan")),
        "bot_candles_after_startup": bot_candles, "cpu_after_startup_s": paced["cpu_s"],
        "wall_after_startup_s": paced["wall_s"],
        "us_per_bot_candle": paced["cpu_s"] / bot_candles * 1e6 if bot_candles > 0 else float("nan"),
        "gc_total_s": paced["gc_total_s"], "gc_max_s": paced["gc_max_s"],
        "fast_candles": fast["candles"], "fast_elapsed_s": fast["elapsed_s"],
        "fast_per_s": fast["candles"] / fast["elapsed_s"], "failed": paced["failed"] + fast["failed"],
    }


def report(r: dict, args: argparse.Namespace) -> None:
    per_bot_kb = (r["rss_running_mb"] - r["base_rss_mb"]) * 1024 / r["bots"]
    print(f"{r['bots']} bots on {r['streams']} shared streams, strategies mixed")
    print(f"  start-up (read {r['bots']} configs .. all running)   {r['startup_s']:8.2f} s")
    print(f"  RSS with all bots running                        {r['rss_running_mb']:8.1f} MB in all "
          f"({r['base_rss_mb']:.1f} MB before), {per_bot_kb:.0f} KB per bot")
    print(f"  RSS at the end of the paced phase                {r['rss_end_mb']:8.1f} MB")
    print(f"  paced: {args.candles} candles at {args.speed:g}x, {r['releases']} releases measured")
    print(f"  candle release -> every bot done      p50 {ms(r['p50_s'])}   p99 {ms(r['p99_s'])}   max {ms(r['max_s'])}")
    print(f"    releases after start-up ({r['releases_after_startup']:>5})  p50 {ms(r['p50_after_startup_s'])}   "
          f"p99 {ms(r['p99_after_startup_s'])}   max {ms(r['max_after_startup_s'])}")
    print(f"  after start-up: {r['bot_candles_after_startup']:,} bot-candles, {r['cpu_after_startup_s']:.2f} s CPU "
          f"in {r['wall_after_startup_s']:.2f} s -> {r['us_per_bot_candle']:.1f} us CPU per bot-candle; "
          f"GC {r['gc_total_s'] * 1000:.0f} ms in all, longest pause {r['gc_max_s'] * 1000:.1f} ms")
    print(f"  fast: {r['fast_candles']:,} candles in {r['fast_elapsed_s']:.2f} s  "
          f"-> {r['fast_per_s']:,.0f} candles/s aggregate (start-up included)")
    print(f"  failed bots: {r['failed']}")


async def measure_control(args: argparse.Namespace) -> dict:
    """The paced phase with the control API up: nobody asking, then a client polling."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_configs(tmp_path / "paced", args.bots, args.streams, args.candles, args.speed)
        idle = await phase(tmp_path / "paced", tmp_path / "state-idle", paced=True, control=True)
        polled = await phase(tmp_path / "paced", tmp_path / "state-polled", paced=True, control=True,
                             control_poll_secs=args.control_poll)
    return {"bots": args.bots, "streams": args.streams, "poll_secs": args.control_poll,
            **{f"{name}_{key}": value for name, run in (("idle", idle), ("polled", polled))
               for key, value in (("p50_s", pct(run["latencies_after_startup"], 0.5)),
                                  ("p99_s", pct(run["latencies_after_startup"], 0.99)),
                                  ("max_s", max(run["latencies_after_startup"], default=float("nan"))),
                                  ("loop_lag_max_s", run["loop_lag_max_s"]), ("failed", run["failed"]))},
            "requests": polled["requests"]}


def report_control(r: dict) -> None:
    print(f"{r['bots']} bots on {r['streams']} shared streams, control API on a Unix socket; "
          f"candle release -> every bot done, after start-up")
    for name, what in (("idle", "nobody asking"), ("polled", f"/bots and /metrics every {r['poll_secs']:g} s")):
        print(f"  {what:<32} p50 {ms(r[f'{name}_p50_s'])}   p99 {ms(r[f'{name}_p99_s'])}   "
              f"max {ms(r[f'{name}_max_s'])}   loop late at most {ms(r[f'{name}_loop_lag_max_s'])}"
              + (f"  {r[f'{name}_failed']} FAILED" if r[f"{name}_failed"] else ""))
    for path in ("bots", "metrics"):
        answers = sorted(secs for p, status, secs, _ in r["requests"] if p == path and status == 200)
        sizes = [size for p, _, _, size in r["requests"] if p == path]
        errors = sum(1 for p, status, _, _ in r["requests"] if p == path and status != 200)
        print(f"  client GET /{path:<8} {len(answers):>4} answers, p50 {ms(pct(answers, 0.5))}, "
              f"max {ms(max(answers, default=float('nan')))}, {max(sizes, default=0) / 1e6:.1f} MB"
              + (f", {errors} errors" if errors else ""))


def curve(args: argparse.Namespace) -> None:
    """The bench once per bot count, each in a fresh process (its own heap, its own RSS)."""
    counts = [int(n) for n in args.curve.split(",")]
    print(f"{args.bots_per_stream} bots per stream; paced {args.candles} candles at {args.speed:g}x; "
          f"fast {args.fast_candles} candles")
    print(f"{'bots':>6} {'start-up':>9} {'RSS':>8} {'us/bot-candle':>14} {'p99':>9} {'p99 after':>10} "
          f"{'max':>9} {'GC max':>8} {'fast agg':>12}")
    for bots in counts:
        command = [sys.executable, __file__, "--json", "--bots", str(bots),
                   "--streams", str(max(1, bots // args.bots_per_stream)), "--candles", str(args.candles),
                   "--speed", str(args.speed), "--fast-candles", str(args.fast_candles)]
        r = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(f"{bots:>6} {r['startup_s']:>7.2f} s {r['rss_running_mb']:>5.0f} MB {r['us_per_bot_candle']:>11.1f} us "
              f"{r['p99_s'] * 1000:>6.0f} ms {r['p99_after_startup_s'] * 1000:>7.0f} ms {r['max_s'] * 1000:>6.0f} ms "
              f"{r['gc_max_s'] * 1000:>5.0f} ms {r['fast_per_s']:>10,.0f}/s" + (f"  {r['failed']} FAILED" if r["failed"] else ""),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--candles", type=int, default=300, help="candles per stream in the paced phase")
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--fast-candles", type=int, default=2000)
    parser.add_argument("--curve", help="comma-separated bot counts, each run in a fresh process, e.g. 100,1000,3000,10000")
    parser.add_argument("--bots-per-stream", type=int, default=100, help="with --curve: streams = bots / this")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--control-poll", type=float, metavar="SECS",
                        help="measure the control API instead: paced with it idle, then asked for /bots and "
                             "/metrics every SECS")
    args = parser.parse_args()
    if args.curve:
        curve(args)
        return
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    if args.control_poll is not None:
        figures = asyncio.run(measure_control(args))
        if args.json:
            print(json.dumps(figures))
        else:
            report_control(figures)
        return
    figures = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(figures))
    else:
        report(figures, args)


if __name__ == "__main__":
    main()
