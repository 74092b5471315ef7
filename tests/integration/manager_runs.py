"""A BotManager running its bots inside a test, as the daemon runs them, and the two ways such a
run ends: a clean stop (final snapshots written, services closed), or a crash that loses
everything in memory, as a killed process does.

For the restart tests that run bots under the manager against the Binance stand-in
(test_exchange_bots.py and the tests that take its helpers): each used to write out the start,
the stop and the crash, in the same dozen lines.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from market.shared import FeedHub
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually


def sim_services(root: Path) -> DaemonServices:
    """The daemon's services for sim bots, their journal and snapshots in `root`."""
    return DaemonServices(hub=FeedHub(), journal=SqliteJournal(root / "journal.sqlite3"),
                          snapshots=SnapshotStore(root / "bots"))


def leg_journal(root: Path, leg: str) -> list[tuple[str, int]]:
    """(kind, bar) of every event `leg` journalled in `root`, in order."""
    with sqlite3.connect(root / "journal.sqlite3") as db:
        return db.execute("SELECT kind, bar FROM events WHERE bot_id = ? ORDER BY seq", (leg,)).fetchall()


def candles_covered(journalled: list[tuple[str, int]]) -> int:
    """The candles a journal covers, up to where it stopped: an event is journalled on the
    candle it is made on (its stop: the last candle it read), a fill on the candle before."""
    return max(bar + 2 if kind == "fill" else bar + 1 for kind, bar in journalled)


@asynccontextmanager
async def run_until_killed(bots: list, root: Path, killed: Iterable[str], *,
                           flattened: bool = False) -> AsyncIterator[tuple[BotManager, DaemonServices]]:
    """Run `bots` (a basket's legs) under a BotManager on `sim_services(root)` until every bot of
    `killed` shows killed (and, with `flattened`, owes no flatten), then stop it; the block reads
    the manager and the services before they are closed."""
    killed = list(killed)
    services = sim_services(root)
    stop = asyncio.Event()
    try:
        manager = BotManager(bots, services)
        running = asyncio.create_task(manager.run(stop))
        await eventually(lambda: all(manager.status(bot).state == "killed"
                                     and not (flattened and manager.status(bot).flatten_pending)
                                     for bot in killed), 30)
        stop.set()
        await asyncio.wait_for(running, 30)
        yield manager, services
    finally:
        services.close()
        services.journal.close()


async def crash(manager: BotManager, services: DaemonServices) -> None:
    """Lose everything in memory: no clean stop, no final snapshot, uncommitted journal rows gone.

    Every task of the bots (and a basket's kill of its legs under way) is cancelled and awaited
    here, before the journal goes: a bot cancelled writes no snapshot, and no task is left
    pending for the garbage collector to destroy ("Task was destroyed but it is pending"). The
    manager's own run is cancelled by `ManagerRun.crash` after this, when its shutdown finds no
    bot to stop or snapshot."""
    tasks = [s.task for s in manager._slots.values() if s.task is not None] + list(manager._background)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    services.journal._db.rollback()
    services.journal._checkpointer.close()      # its thread: it copies only what was committed
    services.journal._db.close()
    await services.hub.aclose()
    await services.accounts.aclose()
    services.writer.close()


class ManagerRun:
    """`async with ManagerRun([config], services) as run:` runs `run.manager` (a BotManager, with
    `exit_when_done=False` and `manager_options`) in a task; leaving the block stops it cleanly
    and closes the services and the journal, unless `run.crash()` ended it first.

    A failure inside the block still stops the bots before it propagates, so a test that fails
    leaves no task running into the next one."""

    def __init__(self, configs: list[BotConfig], services: DaemonServices, **manager_options) -> None:
        self.manager = BotManager(configs, services, exit_when_done=False, **manager_options)
        self.services = services
        self._stop = asyncio.Event()
        self._running: asyncio.Task | None = None
        self._ended = False

    async def __aenter__(self) -> ManagerRun:
        self._running = asyncio.create_task(self.manager.run(self._stop))
        return self

    async def __aexit__(self, *exc_info) -> None:
        if not self._ended:
            await self.stop()

    async def stop(self) -> None:
        """The daemon's clean stop (SIGTERM): the bots stop and save, then the services close."""
        self._ended = True
        self._stop.set()
        await asyncio.wait_for(self._running, 10)
        await self.services.aclose()
        self.services.journal.close()

    async def crash(self, *also: asyncio.Task) -> None:
        """The process dies: see `crash`. The manager's task, and the tasks in `also` (a test's
        own calls into the manager still under way), are cancelled with it."""
        self._ended = True
        await crash(self.manager, self.services)
        for task in (*also, self._running):
            task.cancel()
        await asyncio.gather(*also, self._running, return_exceptions=True)
