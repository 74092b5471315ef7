"""`kill` and `resume` answer only once what they changed is on disk: the bot's kill (or resume)
event committed to the journal, which a second connection to the file sees, read at once after
the answer and before the event loop runs anything else (what a daemon SIGKILLed right after
answering leaves behind). A kill the bot cannot carry out within the grace period is refused
with the reason instead of answered as done.

The daemon process itself, SIGKILLed after each answer: test_kill_durable_daemon.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from execution.exchange import ExchangeAccounts
from market.shared import FeedHub
from runner.config.bot import BotConfig
from runner.control.errors import BotStateError
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually
from tests.wall_clock_standin import wall_clock_standin


def committed(path: Path, bot_id: str, kind: str) -> list[dict]:
    """The bot's events of `kind` that another process reading the journal file sees."""
    import json

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT data FROM events WHERE bot_id = ? AND kind = ? ORDER BY seq", (bot_id, kind))
        return [json.loads(data) for (data,) in rows]


def sim_bot(bot_id: str) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "mode": "sim", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": 3, "bars": 100_000}, "speed": 600,   # ten candles a second
        "strategy": {"name": "ema_cross", "params": {"fast": 3, "slow": 8}}, "risk": {"stake_pct": 0.5}})


def paper_bot(bot_id: str, base_url: str) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "mode": "paper", "symbol": "BTC/USDT", "timeframe": "1s", "capital": 5_000,
        "exchange": {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.1,
                     "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                 "fetchMargins": False}},
        "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 4}}, "risk": {"stake_pct": 0.5}})


class Daemon:
    """A BotManager on a state folder, as `botrunner run` builds it, run in this test's loop."""

    def __init__(self, root: Path, configs: list[BotConfig], *, stop_grace_secs: float = 10.0) -> None:
        self.journal_path = root / "journal.sqlite3"
        self.services = DaemonServices(hub=FeedHub(), journal=SqliteJournal(self.journal_path),
                                       snapshots=SnapshotStore(root / "bots"), accounts=ExchangeAccounts())
        self.manager = BotManager(configs, self.services, exit_when_done=False, stop_grace_secs=stop_grace_secs,
                                  snapshot_interval_secs=3_600)
        self._stop = asyncio.Event()
        self._running: asyncio.Task | None = None

    async def __aenter__(self) -> BotManager:
        self._running = asyncio.create_task(self.manager.run(self._stop))
        return self.manager

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        await asyncio.wait_for(self._running, 30)
        await self.services.aclose()
        self.services.journal.close()


async def test_a_kill_a_resume_and_a_kill_of_all_are_committed_when_they_are_answered(tmp_path):
    daemon = Daemon(tmp_path, [sim_bot("sim-a"), sim_bot("sim-b")])
    async with daemon as manager:
        await eventually(lambda: manager.status("sim-a").bars >= 5, 60.0, poll_secs=0.01)

        killed = await manager.kill("sim-a", "by hand")
        assert [k["reason"] for k in committed(daemon.journal_path, "sim-a", "kill")] == ["by hand"]
        assert (killed.state, killed.kill_reason) == ("killed", "by hand")

        resumed = await manager.resume("sim-a")
        assert committed(daemon.journal_path, "sim-a", "resume") == [{"cleared": "by hand"}]
        assert not resumed.kill_switch

        await manager.kill_all("kill --all")
        assert [[k["reason"] for k in committed(daemon.journal_path, bot_id, "kill")] for bot_id in ("sim-a", "sim-b")] \
            == [["by hand", "kill --all"], ["kill --all"]]


async def test_a_kill_the_bot_cannot_carry_out_within_the_grace_is_refused_then_latched_when_it_can(tmp_path):
    async with wall_clock_standin(600) as standin:
        daemon = Daemon(tmp_path, [paper_bot("paper-a", standin.base_url)], stop_grace_secs=0.3)
        async with daemon as manager:
            await eventually(lambda: manager.status("paper-a").state == "running", 60.0, poll_secs=0.01)
            # The quote of the bot's next order comes 1.5 s late: the bot is busy with that candle.
            quote = standin.delay_next("GET /api/v3/ticker/*", 1.5)
            await eventually(lambda: quote not in standin.pending_faults, 60.0, poll_secs=0.01)
            assert manager._slots["paper-a"].runner.busy

            with pytest.raises(BotStateError, match=r"paper-a is not killed yet \(it has been busy with a candle"):
                await manager.kill("paper-a", "by hand, while busy")
            assert committed(daemon.journal_path, "paper-a", "kill") == []     # not latched: not answered as such

            await eventually(lambda: manager.status("paper-a").state == "killed", 30.0, poll_secs=0.01)
            killed = await manager.kill("paper-a", "again")                     # latched now: the answer says so
            assert killed.kill_reason == "by hand, while busy"
            assert [k["reason"] for k in committed(daemon.journal_path, "paper-a", "kill")] == ["by hand, while busy"]
