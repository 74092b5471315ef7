"""`botrunner resume` right after a restart, while a bot killed before it is still settling: being
built and restored, warming up latched (its status shows it killed already), or ending that run.
The resume waits for the bot and resumes it; before, it was refused as "not killed (it is
running)" (or "(it is killed)", or a basket's "not killed") and the bot came up killed, waiting
for another resume. Each window is held open with an event, and released in the same loop turn
as the resume is asked for: the bot goes on only once the resume is waiting.

A real BotManager, SQLite journal and snapshot files; sim bots on a paced synthetic market.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from market.shared import FeedHub
from runner.config.basket import load_bot_or_basket
from runner.config.bot import BotConfig
from runner.control.errors import BotStateError
from runner.daemon.checkpoints import Checkpoints
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import Hold, eventually
from tests.trio_basket import LEGS, write_trio_basket


def sim_bot(bot_id: str = "latched") -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": 3, "bars": 3_000, "start_price": 20_000},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": {"stake_pct": 0.9, "stop_loss_pct": 0.02}, "speed": 60_000})


class HeldBuild(Checkpoints):
    """The daemon's checkpoints, but the first flush a start of bot `bot_id` asks for
    (`BotManager._build`) waits for `hold`: the bot stays being built."""

    def __init__(self, services: DaemonServices, bot_id: str, hold: Hold) -> None:
        super().__init__(services.writer, [services.journal.commit])
        self.bot_id, self.hold = bot_id, hold

    async def aflush(self, bot_id: str | None = None) -> None:
        if bot_id == self.bot_id and not self.hold.held.is_set():
            await self.hold.wait()
        await super().aflush(bot_id)


class HeldCursor:
    """A feed cursor whose first `call` ("history" or "aclose") made while `when()` holds waits
    for `hold`; otherwise the cursor it wraps."""

    def __init__(self, cursor, call: str, when: Callable[[], bool], hold: Hold) -> None:
        self._cursor, self._call, self._when, self._hold = cursor, call, when, hold

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)

    async def _maybe_held(self, call: str) -> None:
        if call == self._call and not self._hold.held.is_set() and self._when():
            await self._hold.wait()

    async def history(self, limit: int):
        await self._maybe_held("history")
        return await self._cursor.history(limit)

    async def aclose(self) -> None:
        await self._maybe_held("aclose")
        await self._cursor.aclose()


class HeldFeeds(FeedHub):
    """A FeedHub whose cursors are `HeldCursor`s (`when` is set once the manager is made)."""

    def __init__(self, call: str, hold: Hold) -> None:
        super().__init__()
        self.call, self.hold = call, hold
        self.when: Callable[[], bool] = lambda: False

    async def subscribe(self, *args, **kwargs):
        return HeldCursor(await super().subscribe(*args, **kwargs), self.call, lambda: self.when(), self.hold)


def daemon_services(root: Path, hub: FeedHub | None = None) -> DaemonServices:
    services = DaemonServices(hub=hub or FeedHub(), journal=SqliteJournal(root / "journal.sqlite3"),
                              snapshots=SnapshotStore(root / "bots"))
    services.risk_groups.baskets.keep_in(services.snapshots)
    return services


async def close(services: DaemonServices) -> None:
    await services.aclose()
    services.journal.close()


async def killed_and_stopped(root: Path, configs: list[BotConfig], target: str) -> int:
    """Run `configs`, kill `target` (a bot or a basket) by hand, stop the daemon; the candles the
    first bot had stepped."""
    services = daemon_services(root)
    try:
        manager, stop = BotManager(configs, services, exit_when_done=False), asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        await eventually(lambda: all(manager.status(c.id).bars > 50 for c in configs), 20, poll_secs=0.005)
        await manager.kill(target, "by hand")
        stop.set()
        await asyncio.wait_for(running, 20)
        assert all(manager.status(c.id).state == "killed" for c in configs)
        return manager.status(configs[0].id).bars
    finally:
        await close(services)


@pytest.mark.parametrize("window, shown", [("build", "starting"), ("warm-up", "killed"), ("end of run", "killed")])
async def test_a_resume_right_after_a_restart_waits_for_the_killed_bot_and_resumes_it(tmp_path, window, shown):
    config = sim_bot()
    killed_at = await killed_and_stopped(tmp_path, [config], "latched")

    hold = Hold()
    hub = HeldFeeds({"warm-up": "history", "end of run": "aclose"}.get(window, ""), hold)
    services = daemon_services(tmp_path, hub)
    if window == "build":
        services.checkpoints = HeldBuild(services, "latched", hold)
    manager, stop = BotManager([config], services, exit_when_done=False), asyncio.Event()
    hub.when = lambda: manager.status("latched").state != "starting"   # past the build's look at its candles
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(hold.held.is_set, 20, poll_secs=0.005)
        before = manager.status("latched")
        assert (before.state, before.kill_reason) == (shown, "by hand" if shown == "killed" else "")
        hold.release.set()              # the bot goes on in a later turn: the resume is asked first
        resumed = await manager.resume("latched")
        assert not resumed.kill_switch and resumed.state in ("starting", "running")
        await eventually(lambda: manager.status("latched").state == "running"
                         and manager.status("latched").bars > killed_at, 20, poll_secs=0.005)
        assert [e.kind for e in services.journal.events("latched", kinds=("resume",))] == ["resume"]
    finally:
        hold.release.set()
        stop.set()
        await asyncio.wait_for(running, 20)
        await close(services)


async def test_a_basket_resumed_while_a_leg_is_still_being_built_waits_and_resumes_every_leg(tmp_path):
    legs = load_bot_or_basket(write_trio_basket(tmp_path, bars=50_000, speed=3_000)).legs()
    await killed_and_stopped(tmp_path, legs, "trio")

    hold = Hold()
    services = daemon_services(tmp_path)
    services.checkpoints = HeldBuild(services, LEGS[0], hold)
    manager, stop = BotManager(legs, services, exit_when_done=False), asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(hold.held.is_set, 20, poll_secs=0.005)
        assert manager.status(LEGS[0]).state == "starting"
        hold.release.set()
        await manager.resume("trio")
        await eventually(lambda: all(manager.status(leg).state == "running" for leg in LEGS), 20, poll_secs=0.005)
        assert not any(manager.status(leg).kill_switch for leg in LEGS)
    finally:
        hold.release.set()
        stop.set()
        await asyncio.wait_for(running, 20)
        await close(services)


async def test_a_resume_of_a_bot_still_being_built_after_the_grace_says_so(tmp_path):
    config = sim_bot()
    await killed_and_stopped(tmp_path, [config], "latched")

    hold = Hold()
    services = daemon_services(tmp_path)
    services.checkpoints = HeldBuild(services, "latched", hold)
    manager = BotManager([config], services, exit_when_done=False, stop_grace_secs=0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(hold.held.is_set, 20, poll_secs=0.005)
        with pytest.raises(BotStateError) as refused:
            await manager.resume("latched")
        assert str(refused.value) == ("bot latched is still being built and restored after 0.2s: its kill switch can "
                                      "be resumed once it shows killed. See: botrunner status latched")
        hold.release.set()
        await eventually(lambda: manager.status("latched").state == "killed", 20, poll_secs=0.005)
    finally:
        hold.release.set()
        stop.set()
        await asyncio.wait_for(running, 20)
        await close(services)
