"""The manager's cheap dashboard samples say what its statuses say, for bots in every state."""

from __future__ import annotations

import asyncio

from market.shared import FeedHub
from runner.config.bot import BotConfig
from runner.control.live_feed import sample_of
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually


def bot(bot_id: str, *, seed: int, **extra) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": seed, "bars": 3_000, "start_price": 20_000},
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
        "risk": {"stake_pct": 0.9}, "speed": 60_000, **extra,
    })


async def test_dashboard_samples_match_the_statuses_of_running_killed_and_disabled_bots(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    configs = [bot("runs", seed=1), bot("gets-killed", seed=2), bot("off", seed=3, enabled=False)]
    manager = BotManager(configs, services, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: manager.status("runs").trades > 0 and manager.status("gets-killed").bars > 100,
                         timeout_secs=10, poll_secs=0.005)
        await manager.kill("gets-killed", "from the test")
        await eventually(lambda: manager.status("gets-killed").state == "killed", timeout_secs=10, poll_secs=0.005)

        samples, statuses = manager.dashboard_samples(), manager.statuses()     # one moment: no await between

        assert samples == [sample_of(status) for status in statuses]
        assert {s.row[0]: s.row[1] for s in samples} == {"gets-killed": "killed", "off": "disabled", "runs": "running"}
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        services.close()
        journal.close()
