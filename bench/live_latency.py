"""Live bots against the Binance stand-in on loopback: candle arrival to order request, in-process.

    python bench/live_latency.py [--bots 100] [--candles 240] [--runs 5] [--snapshot-interval 0]
                                 [--journal sqlite|postgres|postgres-async ...]

Starts the stand-in (execution/standin) in a process of its own on 127.0.0.1, so the exchange's
work (signature checks, matching, replies) stays out of the event loop being measured, and a
BotManager with `--bots` live bots on one exchange account and one symbol (so one shared candle
subscription), with sma_cross at mixed lengths so their signals spread over many candles.
Time is the stand-in's, moved on by a discrete-event clock: the next candle closes once no
request is in flight and the snapshots are written (the daemon is done with the last candle,
background work included, as it is long before the next close in a real run); the run is
bounded by `--candles`. Each bot checkpoints after every candle, as the bots of a daemon on 1m
candles do (their 5 s interval is shorter than a minute); `--snapshot-interval` sets another
interval, in seconds of wall time, of which a candle here lasts a few tens of milliseconds.

Measured in this process, with four probes outside the code under test:
- arrival: when the shared live stream receives a closed candle from the feed;
- fanned out: when the last bot on the stream asks for the candle after it (its step is done);
- decided: when a bot's order reaches the ccxt client's `create_order`;
- on the wire: when ccxt hands the signed order request to its HTTP session, past ccxt's rate
  limiter (ccxt's `fetch`);
the figure is on-the-wire minus the arrival of the candle the order was decided on, per order
(p50, p99, max), with the decided figure and the time inside ccxt (building the request, its
rate limiter, signing) beside it; then the last order of each candle by how many orders that
candle made, the fan-out of the candles without orders (arrival to every bot past it: what the
hundred bots' turns cost before a candle's commit can start), and ccxt's own cost: every
`FLOOR_EVERY` candles, while the daemon is quiet and before the clock moves on, `FLOOR_ORDERS`
orders sent at once straight through ccxt with no bot code, from a client of their own on a
second stand-in (an account of their own, which the bots' reconciliations never see), in the
same process, heap and minutes as the bots' orders (`InterleavedFloor`); in the first run also
orders over REST against Binance's WebSocket API (`create_order_ws`) from one client. Also the
account's requests per minute (of exchange time and of wall time), and orders sent twice (0).
The probes only take the time and keep what they saw; reading the client order id out of a
request waits until the run is over, so the bots do not pay for the measuring.

The two figures issue 15 asks of the live path, each against its own yardstick of the same run:
each further order on a candle (least squares over candles of 10+ orders, and the median of
the pairwise slopes) against ccxt's own cost per order (the median over the run's interleaved
bursts), and the last order of candles with one to ten orders (p99) against one journal commit
(p99 of the group commits of the run: the one commit every order of a candle waits for). Both
figures are also given in the event loop thread's CPU time (`time.thread_time`, taken by the
same probes): what the wall clock shows on a quiet machine, where nothing but this process runs
on the core (the candle's path waits on no I/O until its last order is on the wire); on a
loaded one it leaves out the other processes' slices, which the wall-clock figures cannot.
In CPU time each further order is also split at the candle's commit: before it, what a deciding
bot adds to the fan-out (its decision, the intent's JSON and SQLite row); after it, the time
from one order on the wire to the next, against the same reading of ccxt's own bursts. The last
order of candles with 1-10 orders is split the same way: the fan-out before the commit (every
bot's turn on the candle), the commit, and the sends after it; and after the runs, each run's
p99 with the median of the runs.

A run's ratio moves with the machine (other processes' slices, and the caches and cores they
share): `--runs` (default 5) runs on fresh stand-ins, and the ratios are given as the median of
the runs' own ratios with their spread, by each reading.

`--journal postgres` runs the same bots on cluster mode's store (`runner.cluster.postgres`: the
journal and snapshots in PostgreSQL, on a throwaway server started on 127.0.0.1 with its
default durability, fsync and synchronous_commit on, unless `--postgres-url-env` names a
variable holding a URL); `postgres-async` the same with synchronous_commit off (a commit
returns before its WAL is on disk: it survives the daemon's death, as SQLite's commits here do
with synchronous=NORMAL, not the database machine's). Several `--journal` run one after the
other, each on a fresh stand-in, and end with their figures side by side (issue 17).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from loguru import logger  # noqa: E402

from execution.exchange import ExchangeAccounts  # noqa: E402
from execution.rate_limit import BurstThrottler  # noqa: E402
from market.shared import FeedHub, LiveCandleStream  # noqa: E402
from runner.config.bot import BotConfig  # noqa: E402
from runner.daemon.process import freeze_startup_heap  # noqa: E402
from runner.state.journal import SqliteJournal  # noqa: E402
from runner.daemon.manager import BotManager, DaemonServices  # noqa: E402
from runner.state.snapshots import SnapshotStore  # noqa: E402
from execution.standin import VirtualStandInClock  # noqa: E402
from execution.standin.tapes import MINUTE_MS, T0_MS  # noqa: E402

KEYS = {"BENCH_KEY": "test-key", "BENCH_SECRET": "test-secret"}
WARM = 60
FLOOR_BURSTS = 5                 # bursts straight through ccxt for the WebSocket-against-REST line
FLOOR_EVERY = 6                  # candles between two bursts of ccxt's own cost, taken between candles
FLOOR_ORDERS = 40                # orders in each of those bursts (about a busy candle's)


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
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def ms(values: list[float]) -> str:
    return (f"p50 {pct(values, 0.5) * 1000:7.3f} ms   p99 {pct(values, 0.99) * 1000:7.3f} ms   "
            f"max {max(values, default=float('nan')) * 1000:7.3f} ms")


def client_order_id(url: str, body: str | None) -> str:
    params = dict(parse_qsl(urlsplit(url).query))
    params.update(parse_qsl(body or ""))
    return params.get("newClientOrderId", "")


def open_store(kind: str, folder: Path, postgres_url: str | None):
    """The journal and snapshot store of a run: SQLite and files, or PostgreSQL."""
    if kind == "sqlite":
        return SqliteJournal(folder / "j.sqlite3"), SnapshotStore(folder / "bots")
    from runner.cluster.postgres import PostgresJournal, PostgresSnapshotStore

    if kind == "postgres-async":        # asyncpg passes a URL's unknown parameters as server settings
        postgres_url += ("&" if "?" in postgres_url else "?") + "synchronous_commit=off"
    journal = PostgresJournal.open(postgres_url)
    return journal, PostgresSnapshotStore(journal)


def time_commits(journal, commits: list[float], commits_cpu: list[float],
                 mark: Callable[[float, float], None] = lambda started, ended: None) -> None:
    """Probe: how long each group commit (the one every order of a candle waits for) takes,
    and (SQLite) the loop thread's CPU time in it. SQLite's is done inside `_commit_group`;
    PostgreSQL's `_commit_group` hands the batch to its database thread and `_group_done` runs
    once it is committed (one at a time, in order): no CPU time of the loop's to take. `mark`
    is given the loop thread's CPU time at the start and end of each SQLite commit."""
    commit_group = journal._commit_group
    if not hasattr(journal, "_group_done"):
        def timed_commit_group():
            started, started_cpu = time.perf_counter(), time.thread_time()
            commit_group()
            ended_cpu = time.thread_time()
            commits.append(time.perf_counter() - started)
            commits_cpu.append(ended_cpu - started_cpu)
            mark(started_cpu, ended_cpu)

        journal._commit_group = timed_commit_group
        return
    group_done, started = journal._group_done, []

    def timed_pg_commit_group(*args):
        started.append(time.perf_counter())
        commit_group(*args)

    def timed_group_done(*args):
        commits.append(time.perf_counter() - started.pop(0))
        group_done(*args)

    journal._commit_group, journal._group_done = timed_pg_commit_group, timed_group_done


async def run(bots: int, candles: int, base_url: str, journal_kind: str = "sqlite",
              postgres_url: str | None = None, *, websocket: bool = True, floor_url: str | None = None,
              snapshot_interval: float = 0.0) -> dict:
    """One run, its figures printed; returns them (`Figures`: the orders' candle arrival -> on
    the wire, the commits' times, and issue 15's ratios of the run)."""
    end_ms = T0_MS + (WARM + candles) * MINUTE_MS
    arrived = [0.0, 0.0]                              # the last candle's arrival: wall, thread CPU
    candle_seq = [0]
    by_candle: dict[int, list[float]] = {}            # candle -> its orders' arrival -> wire
    by_candle_cpu: dict[int, list[float]] = {}        # the same in the loop thread's CPU time
    decided: dict[str, tuple[float, ...]] = {}        # client order id -> (arrival, create_order, candle, arrival CPU)
    sent: list[tuple[float, float, str, str | None]] = []   # (on the wire, its CPU time, url, body): read after the run
    decide: list[float] = []
    commits: list[float] = []                       # seconds each journal commit took
    commits_cpu: list[float] = []                   # and the loop thread's CPU seconds in it (SQLite)
    in_flight = [0]
    fanned: dict[int, tuple[float, float]] = {}     # candle -> arrival -> every bot past it (wall, CPU)
    committed: dict[int, tuple[float, float]] = {}  # candle -> arrival -> its first commit's start, end (CPU)

    original_append = LiveCandleStream.append

    class FannedOut(deque):
        """Probe: the stream's release latencies, to which it appends once the last bot is past
        a candle (one call a candle, where wrapping its acknowledgement cost a call a bot)."""

        def append(self, latency: float) -> None:
            super().append(latency)
            if candle_seq[0] not in fanned:
                fanned[candle_seq[0]] = (time.perf_counter() - arrived[0], time.thread_time() - arrived[1])

    def timed_append(self, batch):                    # probe: a closed candle arrives
        arrived[0], arrived[1] = time.perf_counter(), time.thread_time()
        candle_seq[0] += 1
        if type(self._latencies) is not FannedOut:
            self._latencies = FannedOut(self._latencies, maxlen=self._latencies.maxlen)
        return original_append(self, batch)

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/_standin/stats") as reply:
            # The next candle closes once no request is in flight, no journal commit is under way
            # (PostgreSQL's group commits are awaited off the loop) and the snapshots are written:
            # the daemon is done with the last one, its housekeeping included, as it is a minute
            # later in a real run (a snapshot written meanwhile takes the GIL from the bots).
            clock = VirtualStandInClock(base_url, (await reply.json())["now_ms"],
                                        quiet=lambda: in_flight[0] == 0 and not getattr(journal, "committing", 0)
                                        and services.writer.flush(timeout_secs=0) and ccxt_floor.idle(candle_seq[0]))
        ccxt_floor = InterleavedFloor(bot_config(0, floor_url or base_url), FLOOR_ORDERS, FLOOR_EVERY)
        await ccxt_floor.open()
        LiveCandleStream.append = timed_append
        with tempfile.TemporaryDirectory() as tmp:
            accounts = ExchangeAccounts(environ=KEYS, clock=clock)
            journal, snapshots = open_store(journal_kind, Path(tmp), postgres_url)
            services = DaemonServices(hub=FeedHub(clock=clock), journal=journal,
                                      snapshots=snapshots, clock=clock, accounts=accounts)
            configs = [bot_config(i, base_url) for i in range(bots)]
            client = accounts.get(configs[0].exchange).client
            create_order, fetch = client.create_order, client.fetch

            async def timed_create_order(symbol, type, side, amount, price=None, params={}):  # probe: decided
                now = time.perf_counter()
                decided[params.get("clientOrderId", "")] = (arrived[0], now, candle_seq[0], arrived[1])
                decide.append(now - arrived[0])
                return await create_order(symbol, type, side, amount, price, params)

            async def timed_fetch(url, method="GET", headers=None, body=None):   # probe: on the wire
                if method == "POST":
                    sent.append((time.perf_counter(), time.thread_time(), url, body))
                in_flight[0] += 1
                try:
                    return await fetch(url, method, headers, body)
                finally:
                    in_flight[0] -= 1

            client.create_order, client.fetch = timed_create_order, timed_fetch
            time_commits(journal, commits, commits_cpu,   # probe: the commit a candle's orders wait for
                         lambda started, ended: committed.setdefault(candle_seq[0], (started - arrived[1],
                                                                                     ended - arrived[1])))
            account = accounts.get(configs[0].exchange)
            manager = BotManager(configs, services, exit_when_done=False, snapshot_interval_secs=snapshot_interval)
            stop = asyncio.Event()
            started_wall = time.perf_counter()
            running = asyncio.create_task(manager.run(stop))
            freeze = asyncio.create_task(freeze_startup_heap(manager))     # as the daemon does
            while clock.now_ms() < end_ms:
                await asyncio.sleep(0.05)
            stop.set()
            await running
            freeze.cancel()
            wall = time.perf_counter() - started_wall
            requests = account.requests_total
            await services.aclose()
            services.journal.close()
            await clock.aclose()
            await ccxt_floor.aclose()
        LiveCandleStream.append = original_append
        async with session.get(f"{base_url}/_standin/stats") as reply:
            stats = await reply.json()
        wire, in_ccxt = [], []
        for now, now_cpu, url, body in sent:
            if not urlsplit(url).path.endswith("/order"):
                continue
            arrival, at_create, candle, arrival_cpu = decided.get(client_order_id(url, body), (now, now, 0, now_cpu))
            wire.append(now - arrival)
            in_ccxt.append(now - at_create)
            by_candle.setdefault(candle, []).append(now - arrival)
            by_candle_cpu.setdefault(candle, []).append(now_cpu - arrival_cpu)
        burst = max((len(v) for v in by_candle.values()), default=0)
        over_ws = await websocket_against_rest(configs[0], base_url, burst) if burst and websocket else {}

    print(f"{bots} live bots, one account, one shared BTC/USDT 1m feed, {candles} candles "
          f"({wall:.1f} s of wall time); the stand-in in its own process; journal and snapshots: {journal_kind}, "
          f"each bot's {'after every candle' if not snapshot_interval else f'every {snapshot_interval:g} s'}")
    print(f"  orders sent                 {stats['orders']:>8}   sent twice: {stats['sent_twice']}")
    print(f"  candle arrival -> order on the wire   {ms(wire)}")
    print(f"  candle arrival -> create_order        {ms(decide)}")
    print(f"  create_order -> on the wire (ccxt)    {ms(in_ccxt)}")
    if wire:
        print(f"  mean arrival -> wire        {statistics.mean(wire) * 1000:7.3f} ms over {len(wire)} orders")
    floor_bursts = ccxt_floor.bursts
    quiet_candles = [f for candle, f in fanned.items() if candle not in by_candle and candle > 1]
    if quiet_candles:                                 # the first candles are the warm-up's
        fan_wall = statistics.median(w for w, _ in quiet_candles)
        fan_cpu = statistics.median(c for _, c in quiet_candles)
        print(f"  candles without orders, arrival -> every bot past it: p50 {fan_wall * 1000:.3f} ms, "
              f"{fan_cpu * 1000:.3f} ms of CPU ({fan_cpu / bots * 1e6:.1f} us a bot; {len(quiet_candles)} candles)")
    slopes = print_by_burst(by_candle)
    slopes_cpu = burst_slopes(by_candle_cpu)
    floor, floor_cpu = ccxt_floor.per_order() or (None, None)
    if floor is not None:
        print(f"  {FLOOR_ORDERS} orders straight through ccxt, no bot code, every {FLOOR_EVERY} candles between "
              f"the bots' ({len(floor_bursts)} times): last on the wire after "
              f"{statistics.median(max(w for w, _ in b) for b in floor_bursts) * 1000:.2f} ms (median; "
              f"{floor * 1e6:.0f} us an order, {floor_cpu * 1e6:.0f} us of CPU: ccxt's create_order, signing and aiohttp)")
    if over_ws:
        (ws_wire, ws_reply), (rest_wire, rest_reply) = over_ws["websocket"], over_ws["rest"]
        print(f"  the same {burst} orders over Binance's WebSocket API (ccxt's create_order_ws, order.place) against "
              f"REST (create_order), ccxt alone, median of {FLOOR_BURSTS}: on the wire {ws_wire * 1e6:.0f} us an "
              f"order (REST {rest_wire * 1e6:.0f} us), every reply in {ws_reply * 1e6:.0f} us an order (REST "
              f"{rest_reply * 1e6:.0f} us)")
    if commits:
        print(f"  one journal commit                    {ms(commits)}   ({len(commits)} commits)")
    if commits_cpu:
        print(f"  one journal commit, CPU time          {ms(commits_cpu)}")
    print("  issue 15's figures:")
    if slopes is not None and floor is not None:
        slope, pairwise = slopes
        print(f"    each further order {slope * 1e6:.0f} us against ccxt's own {floor * 1e6:.0f} us: "
              f"{slope / floor:.2f}x (at most 1.25x; by the median of pairwise slopes {pairwise / floor:.2f}x)")
    few = [max(v) for v in by_candle.values() if len(v) <= 10]
    if few and commits:
        print(f"    last order of candles with 1-10 orders p99 {pct(few, 0.99) * 1000:.2f} ms against one commit's "
              f"p99 {pct(commits, 0.99) * 1000:.2f} ms: {(pct(few, 0.99) - pct(commits, 0.99)) * 1000:+.2f} ms "
              f"(at most +2 ms; {len(few)} candles)")
    if slopes_cpu is not None and floor_cpu:
        slope, pairwise = slopes_cpu
        print(f"    in the loop thread's CPU time: each further order {slope * 1e6:.0f} us against ccxt's own "
              f"{floor_cpu * 1e6:.0f} us: {slope / floor_cpu:.2f}x (pairwise {pairwise / floor_cpu:.2f}x)")
    split = split_cost(by_candle_cpu, committed)
    between = ccxt_floor.between_orders()
    if split is not None and between is not None:
        before, after, commit = split
        print(f"    in the loop thread's CPU time, where each further order goes: {before * 1e6:.0f} us before the "
              f"commit (its decision: risk sizing, the Order, the intent's JSON and row), {commit * 1e6:.0f} us in "
              f"the commit, and {after * 1e6:.0f} us after it, its send, against ccxt's own {between * 1e6:.0f} us "
              f"from one order to the next: {after / between:.2f}x")
    few_cpu = [max(v) for v in by_candle_cpu.values() if len(v) <= 10]
    if few_cpu and commits_cpu:
        print(f"    in the loop thread's CPU time: last order of candles with 1-10 orders p99 "
              f"{pct(few_cpu, 0.99) * 1000:.2f} ms against one commit's p99 {pct(commits_cpu, 0.99) * 1000:.2f} ms: "
              f"{(pct(few_cpu, 0.99) - pct(commits_cpu, 0.99)) * 1000:+.2f} ms")
    last_split = split_last_order(by_candle_cpu, committed)
    if last_split is not None:
        (fan, commit, sends, n), (p_fan, p_commit, p_sends, p_n) = last_split
        print(f"    that last order in CPU time, split at the candle's commit: median {fan * 1000:.2f} ms of fan-out "
              f"(every bot's turn, the deciders' included) + {commit * 1000:.2f} ms commit + {sends * 1000:.2f} ms of "
              f"sends ({n} orders); the p99 candle's {p_fan * 1000:.2f} + {p_commit * 1000:.2f} + "
              f"{p_sends * 1000:.2f} ms ({p_n} orders)")
    print(f"  account requests            {requests:>8}   {requests / candles:,.1f} per minute of exchange time, "
          f"{requests / wall * 60:,.0f} per minute of wall time")
    print("  requests by endpoint        " + ", ".join(f"{p} {n}" for p, n in stats["requests_by_endpoint"].items()))
    ratios = {}
    if slopes is not None and floor:
        ratios["wall"], ratios["wall, pairwise"] = slopes[0] / floor, slopes[1] / floor
    if slopes_cpu is not None and floor_cpu:
        ratios["CPU"], ratios["CPU, pairwise"] = slopes_cpu[0] / floor_cpu, slopes_cpu[1] / floor_cpu
    if split is not None and between is not None:
        ratios["CPU, sends"] = split[1] / between
        ratios["CPU, decision us"] = split[0] * 1e6
        ratios["CPU, commit us"] = split[2] * 1e6
    last = {"wall": pct(few, 0.99) if few else None, "commit": pct(commits, 0.99) if commits else None,
            "CPU": pct(few_cpu, 0.99) if few_cpu else None, "commit CPU": pct(commits_cpu, 0.99) if commits_cpu else None,
            "quiet fan-out CPU per bot": fan_cpu / bots if quiet_candles else None,
            "p99 split": last_split[1] if last_split is not None else None}
    return {"wire": wire, "commits": commits, "ratios": ratios, "by_candle": by_candle, "by_candle_cpu": by_candle_cpu,
            "last order": last}


def split_last_order(by_candle_cpu: dict[int, list[float]], committed: dict[int, tuple[float, float]]
                     ) -> tuple[tuple[float, float, float, int], tuple[float, float, float, int]] | None:
    """The last order of each candle with 1-10 orders (loop thread CPU seconds from its arrival),
    split at the candle's commit: arrival -> the commit's start (the fan-out: every bot's turn,
    the deciders' decisions among them), the commit, and its end -> the last order on the wire
    (the sends, one after another). Returns the medians of the three (and of the orders), and
    the three of the candle whose last order is the p99; None without SQLite's commit marks."""
    rows = sorted((max(v), committed[c][0], committed[c][1] - committed[c][0], max(v) - committed[c][1], len(v))
                  for c, v in by_candle_cpu.items() if len(v) <= 10 and c in committed)
    if not rows:
        return None
    medians = tuple(statistics.median(r[i] for r in rows) for i in (1, 2, 3))
    p99 = rows[min(len(rows) - 1, int(0.99 * len(rows)))]
    return (*medians, round(statistics.median(r[4] for r in rows))), p99[1:]


class InterleavedFloor:
    """ccxt's own cost per order, measured between the bots' candles: every `every` candles, once
    the daemon is quiet and before the clock moves on, `orders` market buys are asked at once of
    a client of its own on the same account (made as the bots' is: `ExchangeAccounts`, the
    account's rate limiter), and the wall and loop-thread CPU seconds from the ask to each one
    reaching ccxt's `fetch` are kept. Measured in the same process, heap and minutes as the bots'
    orders, so a machine that gets busier or quieter during a run moves both sides of the ratio
    alike (a floor taken after the run, as before, moved it alone: 271-335 us between runs)."""

    def __init__(self, config: BotConfig, orders: int, every: int) -> None:
        self._accounts = ExchangeAccounts(environ=KEYS)
        self._account = self._accounts.get(config.exchange)
        self._orders, self._every = orders, every
        self._task: asyncio.Task[None] | None = None
        self._last_candle = 0
        self._leaving: list[tuple[float, float]] = []
        self.bursts: list[list[tuple[float, float]]] = []
        client = self._account.client
        fetch = client.fetch

        async def timed_fetch(url, method="GET", headers=None, body=None):
            if method == "POST":
                self._leaving.append((time.perf_counter() - self._started, time.thread_time() - self._started_cpu))
            return await fetch(url, method, headers, body)

        client.fetch = timed_fetch

    async def open(self) -> None:
        """Load the markets and send one burst untimed (it opens the pooled connections)."""
        await self._account.load_markets()
        await self._burst(keep=False)

    def idle(self, candle: int) -> bool:
        """For the clock's quiet check: False while a burst is under way, and when one is due
        (it is started, and the clock waits for it)."""
        if self._task is not None:
            if not self._task.done():
                return False
            task, self._task = self._task, None
            task.result()                   # a failed burst fails the run
            return True
        if candle - self._last_candle < self._every:
            return True
        self._last_candle = candle
        self._task = asyncio.ensure_future(self._burst(keep=True))
        return False

    async def _burst(self, keep: bool) -> None:
        self._leaving = []
        seq = len(self.bursts)
        self._started, self._started_cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(self._account.client.create_market_buy_order_with_cost(
            "BTC/USDT", 20, {"clientOrderId": f"floor-{seq}-{i}-{keep:d}"}) for i in range(self._orders)))
        if keep:
            self.bursts.append(self._leaving)

    def per_order(self) -> tuple[float, float] | None:
        """The median over the bursts of the last order's wall and CPU seconds over the orders."""
        if not self.bursts:
            return None
        return (statistics.median(max(w for w, _ in b) / len(b) for b in self.bursts),
                statistics.median(max(c for _, c in b) / len(b) for b in self.bursts))

    def between_orders(self) -> float | None:
        """The median over the bursts of the loop thread's CPU seconds from one order reaching
        `fetch` to the next (first to last over n - 1), as `split_cost` reads the bots' sends."""
        bursts = [b for b in self.bursts if len(b) > 1]
        if not bursts:
            return None
        return statistics.median((max(c for _, c in b) - min(c for _, c in b)) / (len(b) - 1) for b in bursts)

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._accounts.aclose()


async def websocket_against_rest(config: BotConfig, base_url: str, orders: int) -> dict[str, tuple[float, float]]:
    """ccxt's own cost of an order over Binance's WebSocket API (`create_order_ws`: one JSON
    frame, `order.place`, on a connection kept open) and over REST (`create_order`: an HTTP
    request), from one client as the bots' account makes it (ccxt.pro's, rate limiter on): for
    each, the median of `FLOOR_BURSTS` bursts of `orders` market buys asked at once, in seconds
    an order until the last is on the wire (REST: handed to aiohttp's session; WebSocket: its
    frame handed to the connection) and until the last reply is in."""
    ws_url = base_url.replace("http://", "ws://", 1)
    exchange = config.exchange.model_copy(update={"websocket": True, "ws_url": ws_url})
    accounts = ExchangeAccounts(environ=KEYS)
    account = accounts.get(exchange)
    client, on_wire = account.client, []
    fetch, connection = client.fetch, client.client(client.urls["api"]["ws"]["ws-api"]["spot"])
    send = connection.send

    async def timed_fetch(url, method="GET", headers=None, body=None):
        if method == "POST":
            on_wire.append(time.perf_counter())
        return await fetch(url, method, headers, body)

    async def timed_send(message):
        on_wire.append(time.perf_counter())
        return await send(message)

    client.fetch, connection.send = timed_fetch, timed_send
    # ccxt.pro counts an order.place 5 against a limiter of the connection's own (Binance weighs
    # it 1, in the same budget as REST), and signs before that limiter's wait: bursts past its
    # minute's budget would wait there and arrive outside their recvWindow (-1021). Counted 1,
    # and let through in one pass as the account's REST limiter does (`execution.rate_limit`),
    # the limiter's wait stays out of the cost: the WebSocket API at its best.
    client.options["ws"]["cost"] = 1
    connection.throttle = BurstThrottler(client.tokenBucket, client.asyncio_loop)
    place = {"rest": lambda cid: client.create_order("BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": cid}),
             # create_order_ws sends a clientOrderId param beside newClientOrderId, which Binance refuses
             "websocket": lambda cid: client.create_order_ws("BTC/USDT", "market", "buy", 0.001, None,
                                                             {"newClientOrderId": cid})}
    costs: dict[str, list[tuple[float, float]]] = {"rest": [], "websocket": []}
    try:
        await account.load_markets()
        for burst in range(FLOOR_BURSTS + 1):      # the first opens the connections
            for kind, order in place.items():
                on_wire.clear()
                started = time.perf_counter()
                await asyncio.gather(*(order(f"{kind[:2]}-{burst}-{i}") for i in range(orders)))
                if burst:
                    costs[kind].append(((max(on_wire) - started) / orders, (time.perf_counter() - started) / orders))
    finally:
        await accounts.aclose()
    return {kind: (statistics.median(w for w, _ in runs), statistics.median(r for _, r in runs))
            for kind, runs in costs.items()}


def print_by_burst(by_candle: dict[int, list[float]]) -> tuple[float, float] | None:
    """The last order of each candle, by how many orders that candle made: the orders of one
    candle leave one after another, so the last one's wait grows with their number. Returns
    what each further order adds (seconds; least squares, and the median of the pairwise
    slopes, which a few candles slowed by other processes on a shared machine do not move),
    None with fewer than two candles of 10+ orders."""
    groups: dict[int, list[tuple[int, float]]] = {}
    for latencies in by_candle.values():
        n = len(latencies)
        groups.setdefault(min((n - 1) // 10, 4), []).append((n, max(latencies)))
    print("  last order of a candle, by orders on that candle:")
    for group, rows in sorted(groups.items()):
        label = f"{group * 10 + 1}-{group * 10 + 10}" if group < 4 else "41+"
        lasts = [last for _, last in rows]
        print(f"    {label:>6} orders  {len(rows):>4} candles   last order on the wire: "
              f"p50 {pct(lasts, 0.5) * 1000:6.2f} ms   max {max(lasts) * 1000:6.2f} ms")
    slopes = burst_slopes(by_candle)
    if slopes is not None:
        print(f"    each further order on a candle adds {slopes[0] * 1e6:.0f} us (least squares, candles of 10+; "
              f"median of pairwise slopes {slopes[1] * 1e6:.0f} us)")
    return slopes


def split_cost(by_candle: dict[int, list[float]],
               committed: dict[int, tuple[float, float]]) -> tuple[float, float, float] | None:
    """Each further order on a candle of 10+ orders, split at the candle's commit (loop thread
    CPU seconds): before it, the median of the pairwise slopes of arrival -> the commit's start
    over the candle's orders (the deciding bots' extra work in the fan-out); after it, the median
    over candles of the time from one order on the wire to the next (first to last over n - 1:
    the sends, one after another); and the commit's own, the pairwise slopes of its CPU time (an
    intent row more is pages more to write). None without two such candles (or SQLite's marks)."""
    big = [(len(v), committed[c][0], (max(v) - min(v)) / (len(v) - 1), committed[c][1] - committed[c][0])
           for c, v in by_candle.items() if len(v) >= 10 and c in committed]
    if len(big) < 2:
        return None
    pairs = [(m - n, rest, first) for i, (n, *first) in enumerate(big) for m, *rest in big[i + 1:] if m != n]
    before = statistics.median((b[0] - a[0]) / d for d, b, a in pairs)
    commit = statistics.median((b[2] - a[2]) / d for d, b, a in pairs)
    return before, statistics.median(after for _, _, after, _ in big), commit


def burst_slopes(by_candle: dict[int, list[float]]) -> tuple[float, float] | None:
    """What each further order on a candle adds to its last one, over candles of 10+ orders
    (least squares, median of pairwise slopes); None with fewer than two such candles."""
    big = [(len(v), max(v)) for v in by_candle.values() if len(v) >= 10]
    if len(big) < 2:
        return None
    slope = statistics.linear_regression([n for n, _ in big], [last for _, last in big]).slope
    pairwise = statistics.median((b - a) / (m - n) for i, (n, a) in enumerate(big) for m, b in big[i + 1:] if m != n)
    return slope, pairwise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--candles", type=int, default=240, help="closed candles to trade over")
    parser.add_argument("--journal", choices=["sqlite", "postgres", "postgres-async"], action="append",
                        help="the store of the journal and snapshots (default sqlite); repeat to compare")
    parser.add_argument("--snapshot-interval", type=float, default=0.0, metavar="SECS",
                        help="the bots' snapshot interval, in seconds of wall time (default 0: after every "
                             "candle, as a daemon's 1m bots do, their 5 s interval being shorter than a minute; "
                             "here a candle closes every few tens of milliseconds)")
    parser.add_argument("--runs", type=int, default=5,
                        help="runs of each store, each on a fresh stand-in; issue 15's per-order ratio is the "
                             "median of theirs (default 5)")
    parser.add_argument("--postgres-url-env", metavar="NAME",
                        help="a variable holding the PostgreSQL URL (default: a throwaway server on 127.0.0.1)")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    kinds = list(dict.fromkeys(args.journal or ["sqlite"]))
    database = None
    if kinds != ["sqlite"] and args.postgres_url_env:
        postgres_url = os.environ[args.postgres_url_env]
    elif kinds != ["sqlite"]:
        from tests.cluster.servers import start_postgres

        database = start_postgres(fsync=True)        # as a real database: each commit on disk
        postgres_url = database.url("postgres")
    else:
        postgres_url = None
    try:
        runs = {kind: [run_on_a_fresh_standin(args.bots, args.candles, kind, postgres_url, websocket=not i,
                                              snapshot_interval=args.snapshot_interval)
                       for i in range(args.runs)] for kind in kinds}
    finally:
        if database is not None:
            database.stop()
    for kind, figures in runs.items():
        print_ratios(kind, figures)
        print_last_orders(kind, figures)
    if len(runs) > 1:
        print(f"candle arrival -> order on the wire, {args.bots} live bots, same candles (first run of each):")
        for kind, figures in runs.items():
            print(f"  {kind:<14} orders {ms(figures[0]['wire'])}   one group commit {ms(figures[0]['commits'])}")


def print_last_orders(kind: str, figures: list[dict]) -> None:
    """Issue 15's last-order figure over the runs: each run's p99 of the last order of candles
    with 1-10 orders and its commit's p99 (wall and CPU), with their medians, and the fan-out
    of the candles without orders in CPU per bot."""
    lasts = [f["last order"] for f in figures]
    print(f"issue 15, last order of candles with 1-10 orders against one commit, p99 of each of {len(lasts)} runs "
          f"({kind}):")
    for name, commit in (("wall", "commit"), ("CPU", "commit CPU")):
        runs = [(r[name], r[commit]) for r in lasts if r[name] is not None and r[commit] is not None]
        if runs:
            print(f"  {name:<5} median {statistics.median(a for a, _ in runs) * 1000:.2f} ms against "
                  f"{statistics.median(b for _, b in runs) * 1000:.2f} ms, {statistics.median(a - b for a, b in runs) * 1000:+.2f} ms"
                  f"   runs: {' '.join(f'{a * 1000:.2f}/{b * 1000:.2f}' for a, b in runs)}")
    splits = [r["p99 split"] for r in lasts if r["p99 split"] is not None]
    if splits:
        print("  the p99 candles in CPU, fan-out + commit + sends (orders): "
              + "   ".join(f"{a * 1000:.2f} + {b * 1000:.2f} + {c * 1000:.2f} ({n})" for a, b, c, n in splits))
    fans = [r["quiet fan-out CPU per bot"] for r in lasts if r["quiet fan-out CPU per bot"] is not None]
    if fans:
        print(f"  candles without orders, fan-out CPU per bot: median {statistics.median(fans) * 1e6:.1f} us   "
              f"runs: {' '.join(f'{x * 1e6:.1f}' for x in fans)}")


def print_ratios(kind: str, figures: list[dict]) -> None:
    """Issue 15's per-order ratio over the runs: the median of the runs' own ratios (each its
    slope over its own interleaved floor) and their spread, by each estimator."""
    print(f"issue 15, each further order against ccxt's own cost per order, {len(figures)} runs ({kind}):")
    for name in ("CPU", "CPU, pairwise", "wall", "wall, pairwise", "CPU, sends", "CPU, decision us", "CPU, commit us"):
        ratios = [f["ratios"][name] for f in figures if name in f["ratios"]]
        unit, digits = ("", 0) if name.endswith(" us") else ("x", 2)
        if ratios:
            print(f"  {name:<17} median {statistics.median(ratios):.{digits}f}{unit}   min {min(ratios):.{digits}f}{unit}"
                  f"   max {max(ratios):.{digits}f}{unit}   runs: {' '.join(f'{r:.{digits}f}' for r in ratios)}")


def run_on_a_fresh_standin(bots: int, candles: int, journal_kind: str, postgres_url: str | None, *,
                           websocket: bool = True, snapshot_interval: float = 0.0) -> dict:
    """One run on a stand-in of its own, and ccxt's own orders (`InterleavedFloor`) on a second
    one: an account of their own, so the bots' reconciliations never meet their trades (they
    would look each one up, a request each, at every bot's reconciliation)."""
    with contextlib.ExitStack() as stack:
        base_url = stack.enter_context(standin(candles, USDT=1_000 * bots * 2))
        floor_url = stack.enter_context(standin(candles, USDT=1_000_000))
        return asyncio.run(run(bots, candles, base_url, journal_kind, postgres_url, websocket=websocket,
                               floor_url=floor_url, snapshot_interval=snapshot_interval))


@contextlib.contextmanager
def standin(candles: int, **balances: int) -> Iterator[str]:
    """A stand-in in a process of its own; yields its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "execution.standin.serve", "--candles", str(WARM + candles + 5), "--start-bar", str(WARM),
         "--balance", "BTC=0", *(f"--balance={asset}={amount}" for asset, amount in balances.items())],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the stand-in did not start (said {base_url!r})")
        yield base_url
    finally:
        server.stdin.close()               # the stand-in exits at EOF
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
