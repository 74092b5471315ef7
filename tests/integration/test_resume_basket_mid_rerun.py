"""`botrunner resume <basket>` right after a restart, while a sim leg still re-runs its candles up
to the kill its journal holds past its snapshot (it shows running until it gets there), and
another leg has reached its own kill already: the basket shows killed.

The resume waits for the re-running leg to reach its kill (`BotSlot.latch_settling`), then brings
every leg back. Before, it acted on the legs killed so far only, and the re-running leg, reaching
its journalled kill after the resume, tripped the basket's latch again: every leg came back killed
(seen: all three, 'by hand: the basket', the resume undone).

The re-running leg's next batch is held with an event, released in the resume's turn: it goes on
only once the resume is waiting. A real BotManager, SQLite journal and snapshot files; a sim
basket of three legs on a paced synthetic market.
"""

from __future__ import annotations

import asyncio

import pytest

from runner.control.errors import BotStateError
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import Hold, eventually
from tests.integration.manager_runs import leg_journal
from tests.integration.test_basket_latch_after_crash import Run, basket_legs, crash_after_a_kill
from tests.integration.test_resume_while_flattening import HeldFeeds

SYMBOL, LEG = "SOL/USDT", "trio.sol-usdt"        # the leg held in the middle of its re-run


class HeldRun(Run):
    """`Run` on a hub whose cursors of SYMBOL hold their next batch once `hold_batches()` is true."""

    def __init__(self, root, legs, hub: HeldFeeds, **manager_options) -> None:
        self.root = root
        self.services = DaemonServices(hub=hub, journal=SqliteJournal(root / "journal.sqlite3"),
                                       snapshots=SnapshotStore(root / "bots"))
        self.manager = BotManager(legs, self.services, exit_when_done=False, snapshot_interval_secs=3_600,
                                  **manager_options)
        self._stop = asyncio.Event()
        self._running = asyncio.create_task(self.manager.run(self._stop))


async def killed_past_snapshots(root) -> tuple[list, int, int]:
    """The trio killed some 30 candles past every leg's snapshot, then crashed: its legs, and the
    candles LEG's snapshot holds (0: none yet) and its kill's bar."""
    legs = basket_legs()

    async def kill(run: Run) -> None:
        bars = {s.id: s.bars for s in run.statuses().values()}
        await eventually(lambda: all(s.bars > bars[s.id] + 30 for s in run.statuses().values()), 30, poll_secs=0.005)
        await run.manager.kill("trio", "by hand: the basket")

    await crash_after_a_kill(root, legs, kill)
    snapshot = SnapshotStore(root / "bots").read(LEG)
    restored = snapshot["bars"] if snapshot is not None else 0      # none yet: it re-runs from its first candle
    killed_at = next(bar for kind, bar in leg_journal(root, LEG) if kind == "kill")
    assert killed_at > restored + 2
    return legs, restored, killed_at


async def test_a_basket_resumed_while_a_leg_re_runs_up_to_its_journalled_kill_waits_for_it_and_stays_resumed(
        tmp_path):
    legs, restored, killed_at = await killed_past_snapshots(tmp_path)
    held = Hold()
    hub = HeldFeeds(SYMBOL, hold_batch=held)
    run = HeldRun(tmp_path, legs, hub)
    hub.hold_batches = lambda: run.manager.status(LEG).bars > restored       # mid-re-run, before its kill
    try:
        await eventually(lambda: held.held.is_set() and run.manager.basket("trio").kill_switch, 30, poll_secs=0.005)
        rerunning = run.manager.status(LEG)
        assert (rerunning.state, rerunning.bars < killed_at) == ("running", True)

        held.release.set()      # the leg goes on in a later turn: the resume is asked first
        await run.manager.resume("trio")
        # Every leg killed again (before: the re-running leg's kill tripped the latch after the
        # resume), or run again and well past every kill.
        await eventually(lambda: all(s.state == "killed" or run.ran_after_resume(s.id) and s.bars > killed_at + 20
                                     for s in run.statuses().values()), 30, poll_secs=0.005)
        assert {s.id: (s.state, s.kill_switch) for s in run.statuses().values()} == {
            leg.id: ("running", False) for leg in legs}
        assert [e.kind for e in run.services.journal.events(LEG, kinds=("kill", "resume"))][-1] == "resume"
    finally:
        held.release.set()
        await run.stop()


async def test_a_basket_resume_whose_leg_still_re_runs_after_the_grace_says_so_and_leaves_the_latch(tmp_path):
    legs, restored, _ = await killed_past_snapshots(tmp_path)
    held = Hold()
    hub = HeldFeeds(SYMBOL, hold_batch=held)
    run = HeldRun(tmp_path, legs, hub, stop_grace_secs=0.2)
    hub.hold_batches = lambda: run.manager.status(LEG).bars > restored
    try:
        await eventually(lambda: held.held.is_set() and run.manager.basket("trio").kill_switch, 30, poll_secs=0.005)
        with pytest.raises(BotStateError) as refused:
            await run.manager.resume("trio")
        named = str(refused.value).split()[1]        # LEG, or a leg waiting for LEG's re-run before its own kill
        assert named in {leg.id for leg in legs}
        assert str(refused.value) == (f"bot {named} is still re-running its candles up to the kill its journal "
                                      f"holds after 0.2s: its kill switch can be resumed once it shows killed. See: "
                                      f"botrunner status {named}")
        assert run.manager.basket("trio").kill_switch
        assert not any(run.services.journal.events(leg.id, kinds=("resume",)) for leg in legs)
    finally:
        held.release.set()
        await run.stop()
