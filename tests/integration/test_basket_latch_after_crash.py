"""A basket's one kill latch after a crash that left the kill in the journal and not in any leg's
snapshot: every leg comes back killed with the basket's reason, trades nothing, and
`botrunner resume <basket>` brings every leg back.

The bots run under the BotManager on a real SQLite journal and snapshot files; the crash loses
everything in memory and every write not on disk (as test_kill_latch_after_crash.py's), and each
leg's snapshot is the last one written before the kill, as when the process dies between the
kill's journal commit and its snapshot. Killed by hand (`botrunner kill <basket>`), and by a
drawdown rule that one leg trips for the basket. A sim basket's legs re-run their candles up to
their journalled kills; a paper basket's leg (one: the stand-in serves one symbol) does not re-run,
its latch is the one its journal leaves, folded into the basket's (`RecoveredState.latch_after`).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from market.shared import FeedHub
from runner.config.basket import basket_config_problems
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually
from tests.wall_clock_standin import wall_clock_standin

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def basket_legs(**risk) -> list:
    raw = {"id": "trio", "symbols": list(SYMBOLS), "max_open_positions": 3, "stake_amount": 1_500,
           "timeframe": "1m", "capital": 10_000, "market": {"source": "synthetic", "seed": 5, "bars": 50_000},
           "speed": 3_000, "strategy": {"name": "ema_cross", "params": {"fast": 5, "slow": 20}},
           "risk": {"stop_loss_pct": 0.01, **risk}}
    basket, problems = basket_config_problems(Path("trio.yaml"), raw)
    assert basket is not None, problems
    return basket.legs()


def paper_basket_legs(base_url: str, **risk) -> list:
    raw = {"id": "solo", "mode": "paper", "symbols": ["BTC/USDT"], "stake_amount": 1_000, "timeframe": "1s",
           "capital": 5_000, "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 4}},
           "exchange": {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.1,
                        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                    "fetchMargins": False}},
           "risk": {"stake_pct": 0.5, **risk}}
    basket, problems = basket_config_problems(Path("solo.yaml"), raw)
    assert basket is not None, problems
    return basket.legs()


class Run:
    """A BotManager on `root`, in this test's loop; ended by `crash()` or `stop()`."""

    def __init__(self, root: Path, legs: list) -> None:
        self.root = root
        self.services = DaemonServices(hub=FeedHub(), journal=SqliteJournal(root / "journal.sqlite3"),
                                       snapshots=SnapshotStore(root / "bots"))
        self.manager = BotManager(legs, self.services, exit_when_done=False, snapshot_interval_secs=3_600)
        self._stop = asyncio.Event()
        self._running = asyncio.create_task(self.manager.run(self._stop))

    def statuses(self) -> dict:
        return {s.id: s for s in self.manager.statuses()}

    def ran_after_resume(self, leg: str) -> bool:
        """The leg journalled a resume, and after it that it runs."""
        events = self.services.journal.events(leg, kinds=("resume", "lifecycle"))
        resumed = [e.seq for e in events if e.kind == "resume"]
        return bool(resumed) and any(e.kind == "lifecycle" and e.data["state"] == "running" and e.seq > resumed[-1]
                                     for e in events)

    def orders(self) -> int:
        return sum(len(self.services.journal.events(leg, kinds=("order",))) for leg in self.statuses())

    async def crash(self) -> None:
        """Lose everything in memory: no clean stop, no final snapshot, uncommitted rows gone."""
        self._running.cancel()
        for slot in self.manager._slots.values():
            if slot.task is not None:
                slot.task.cancel()
        await asyncio.gather(self._running, *(s.task for s in self.manager._slots.values() if s.task),
                             return_exceptions=True)
        self.services.journal._db.rollback()
        self.services.journal._db.close()
        await self.services.hub.aclose()
        await self.services.accounts.aclose()
        self.services.writer.close()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self._running, 30)
        await self.services.aclose()
        self.services.journal.close()


async def crash_after_a_kill(root: Path, legs: list, kill, *, fills_first: int = 4) -> None:
    """Trade; keep every leg's snapshot (none yet, maybe, with `fills_first` 0); `await kill(run)`
    (returns once the basket is killed); crash; put the kept snapshots back: the kill is in the
    journal past each of them."""
    run = Run(root, legs)
    try:
        await eventually(lambda: sum(s.fills for s in run.statuses().values()) >= fills_first, 60.0, poll_secs=0.01)
        await run.services.checkpoints.aflush()
        kept = root / "kept"
        shutil.copytree(root / "bots", kept) if (root / "bots").exists() else kept.mkdir()
        await kill(run)
    finally:
        await run.crash()
    shutil.rmtree(root / "bots")
    shutil.copytree(kept, root / "bots")


async def restarted_latched(root: Path, legs: list, reason_starts: str, *, rule_trips_again: bool = False,
                            basket: str = "trio") -> None:
    """Started again: every leg killed with the basket's reason, nothing traded; then resumed,
    every leg runs again (a drawdown rule trips again at once: the basket's peak is still there)."""
    run = Run(root, legs)
    try:
        orders = run.orders()
        try:
            await eventually(lambda: all(s.state == "killed" and not s.flatten_pending
                                         for s in run.statuses().values()), 60.0, poll_secs=0.01)
        except TimeoutError:
            raise AssertionError(f"not every leg killed: {[(s.id, s.state, s.kill_reason, s.bars, s.last_error) for s in run.statuses().values()]}") from None
        statuses = run.statuses()
        assert {s.kill_reason for s in statuses.values()} == {statuses[legs[0].id].kill_reason}
        assert statuses[legs[0].id].kill_reason.startswith(reason_starts)
        assert all(s.kill_switch and s.position == 0 for s in statuses.values())
        assert run.orders() == orders                     # no leg traded after the restart
        # Asked as soon as the status shows every leg killed, as a person would: a leg shows
        # killed while it still ends the run it came back latched in, and the resume waits for it
        # (before, under load, it was refused here: "solo.btc-usdt is not killed (it is running)").
        await run.manager.resume(basket)
        await eventually(lambda: all(run.ran_after_resume(leg.id) for leg in legs), 60.0, poll_secs=0.01)
        if not rule_trips_again:
            assert all(s.state == "running" and not s.kill_switch for s in run.statuses().values())
    finally:
        await run.stop()


async def test_a_basket_killed_by_hand_past_its_snapshots_comes_back_latched_on_every_leg(tmp_path):
    legs = basket_legs()

    async def kill(run: Run) -> None:
        await run.manager.kill("trio", "by hand: the basket")

    await crash_after_a_kill(tmp_path, legs, kill)
    await restarted_latched(tmp_path, legs, "by hand: the basket")


async def test_a_basket_whose_latch_a_rule_tripped_past_its_snapshots_comes_back_latched_on_every_leg(tmp_path):
    legs = basket_legs(max_drawdown_pct=0.002)

    async def kill(run: Run) -> None:
        await eventually(lambda: all(s.state == "killed" and not s.flatten_pending
                                     for s in run.statuses().values()), 60.0, poll_secs=0.01)
        await run.services.journal.group_commit()

    await crash_after_a_kill(tmp_path, legs, kill)
    await restarted_latched(tmp_path, legs, "drawdown", rule_trips_again=True)


async def rule_killed(run: Run) -> None:
    await eventually(lambda: all(s.state == "killed" and not s.flatten_pending
                                 for s in run.statuses().values()), 60.0, poll_secs=0.01)
    await run.services.journal.group_commit()


async def test_a_paper_basket_killed_by_hand_past_its_snapshot_comes_back_latched_from_its_journal(tmp_path):
    async with wall_clock_standin(600) as standin:
        legs = paper_basket_legs(standin.base_url)

        async def kill(run: Run) -> None:
            await run.manager.kill("solo", "by hand: the paper basket")

        await crash_after_a_kill(tmp_path, legs, kill, fills_first=2)
        await restarted_latched(tmp_path, legs, "by hand: the paper basket", basket="solo")


async def test_a_paper_basket_whose_latch_a_rule_tripped_comes_back_latched_from_its_journal(tmp_path):
    async with wall_clock_standin(600) as standin:
        legs = paper_basket_legs(standin.base_url, max_drawdown_pct=0.0001)   # the entry's fee trips it
        await crash_after_a_kill(tmp_path, legs, rule_killed, fills_first=0)
        await restarted_latched(tmp_path, legs, "drawdown", rule_trips_again=True, basket="solo")
