"""A daemon on the PostgreSQL store killed mid-run (SIGKILL) restarts from its snapshots and
journal, and every bot ends as an uninterrupted run does: same ledger, every fill journalled
once.

The first daemon runs in a process of its own (so the kill loses whatever it had not
committed, as a real crash does); the restart runs in the test's process, at full speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg

from market.shared import FeedHub
from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.cluster.postgres import PostgresJournal, PostgresSnapshotStore
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import MemoryJournal

ROOT = Path(__file__).resolve().parents[2]
BARS = 3_000
SEEDS = {"pg-a": 3, "pg-b": 4}


def bot(bot_id: str, *, speed: float | None = None) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": SEEDS[bot_id], "bars": BARS, "start_price": 20_000},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": {"stake_pct": 0.9, "stop_loss_pct": 0.02}, "speed": speed,
    })


# The daemon that gets killed: 500 candles a second, a snapshot every 0.1 s.
FIRST_DAEMON = textwrap.dedent("""
    import asyncio, sys
    from market.shared import FeedHub
    from runner.cluster.postgres import PostgresJournal, PostgresSnapshotStore
    from runner.daemon.manager import BotManager, DaemonServices
    from tests.cluster.test_pg_recovery import SEEDS, bot

    async def main():
        journal = PostgresJournal.open(sys.argv[1])
        services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=PostgresSnapshotStore(journal))
        manager = BotManager([bot(b, speed=30_000) for b in SEEDS], services, snapshot_interval_secs=0.1)
        await manager.run(asyncio.Event())

    asyncio.run(main())
""")


async def run_alone(config: BotConfig) -> tuple[dict, list[str]]:
    candles = generate_candles(count=BARS, seed=config.market.seed, start_price=20_000, timeframe="1m")
    journal = MemoryJournal()
    runner = sim_runner(config, candles, journal=journal)
    await runner.run()
    return runner.snapshot(), [e.key for e in journal.of_kind("fill")]


async def snapshot_bars(connection: asyncpg.Connection, bot_id: str) -> int:
    if not await connection.fetchval("SELECT to_regclass('snapshots') IS NOT NULL"):
        return 0                               # the daemon has not made its tables yet
    document = await connection.fetchval("SELECT document FROM snapshots WHERE bot_id = $1", bot_id)
    return json.loads(bytes(document))["state"]["bars"] if document is not None else 0


async def test_a_daemon_killed_mid_run_restarts_to_the_uninterrupted_runs_ledgers(postgres_url):
    first = subprocess.Popen([sys.executable, "-c", FIRST_DAEMON, postgres_url], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL)
    watcher = await asyncpg.connect(postgres_url)
    try:
        async with asyncio.timeout(60):       # until both bots have a snapshot a third of the way in
            while min([await snapshot_bars(watcher, b) for b in SEEDS]) < BARS // 3:
                assert first.poll() is None, "the first daemon exited before it was killed"
                await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        at_kill = {b: await snapshot_bars(watcher, b) for b in SEEDS}
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        await watcher.close()
    assert all(BARS // 3 <= bars < BARS for bars in at_kill.values())

    journal = PostgresJournal.open(postgres_url)
    snapshots = PostgresSnapshotStore(journal)
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=snapshots)
    try:
        manager = BotManager([bot(b) for b in SEEDS], services)
        await asyncio.wait_for(manager.run(asyncio.Event()), 60)
    finally:
        services.close()
    try:
        for bot_id in SEEDS:
            assert manager.status(bot_id).state == "finished"
            state, fills = snapshots.read(bot_id), [e.key for e in journal.events(bot_id, kinds=("fill",))]
            alone, fills_alone = await run_alone(bot(bot_id))
            assert state["portfolio"] == alone["portfolio"]
            assert (state["bars"], state["order_seq"]) == (alone["bars"], alone["order_seq"])
            assert fills == fills_alone and len(fills) > 10
    finally:
        journal.close()
