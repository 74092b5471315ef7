"""A basket's legs restored after a restart decide nothing until every leg is back: one leg's
start held back (its snapshot flush waits) must not change where the basket ends, and a leg that
cannot start at all must not hold the others forever."""

from __future__ import annotations

import asyncio

import pytest

from market.shared import FeedHub
from runner.basket.backtest import run_basket_backtest
from runner.config.basket import load_bot_or_basket
from runner.daemon.checkpoints import Checkpoints
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually
from tests.trio_basket import LEGS, SYMBOLS, write_trio_basket

HELD = LEGS[0]


class HeldStart(Checkpoints):
    """The daemon's checkpoints, but the first flush a leg's start asks for (`BotManager._build`)
    waits until `release` is set: that leg is restored last, whatever the event loop would do."""

    def __init__(self, services: DaemonServices, held: str) -> None:
        super().__init__(services.writer, [services.journal.commit])
        self.held, self.release = held, asyncio.Event()

    async def aflush(self, bot_id: str | None = None) -> None:
        if bot_id == self.held:
            await self.release.wait()
        await super().aflush(bot_id)


def make_services(tmp_path) -> DaemonServices:
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    services.risk_groups.baskets.keep_in(services.snapshots)
    return services


def close(services: DaemonServices) -> None:
    services.close()
    services.journal.close()


def waiting_at_start(manager: BotManager, services: DaemonServices, leg: str, symbol: str) -> bool:
    """Built, restored and in the basket's ledger, but not stepping yet (or, without the wait,
    done with its data while the held leg never started)."""
    group = services.risk_groups.baskets.group("trio")
    state = manager.status(leg).state
    return group is not None and symbol in group.ledger.legs and state in ("starting", "finished")


async def test_a_leg_restored_late_does_not_change_where_the_basket_ends(tmp_path):
    path = write_trio_basket(tmp_path)
    expected = await run_basket_backtest(load_bot_or_basket(path))
    expected_fills = sum(leg["fills"] for leg in expected.legs.values())
    assert expected_fills > 20 and expected.refusals == 0

    first = make_services(tmp_path)                     # the run a restart interrupts
    try:
        manager, stop = BotManager(load_bot_or_basket(path).legs(), first), asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        await eventually(lambda: sum(manager.status(leg).fills for leg in LEGS) >= expected_fills // 3,
                         timeout_secs=30, poll_secs=0.01)
        stop.set()
        await asyncio.wait_for(running, 20)
        assert sum(manager.status(leg).fills for leg in LEGS) < expected_fills
    finally:
        close(first)

    again = make_services(tmp_path)
    again.checkpoints = held = HeldStart(again, HELD)
    try:
        manager = BotManager(load_bot_or_basket(path).legs(), again)
        running = asyncio.create_task(manager.run(asyncio.Event()))
        await eventually(lambda: all(waiting_at_start(manager, again, leg, symbol)
                                     for leg, symbol in zip(LEGS[1:], SYMBOLS[1:])), timeout_secs=30, poll_secs=0.01)
        held.release.set()
        await asyncio.wait_for(running, 30)
        for symbol, leg in zip(SYMBOLS, LEGS):
            status, want = manager.status(leg), expected.legs[symbol]
            assert status.state == "finished" and status.bars == want["bars"]
            assert not status.risk_blocks, f"{leg}: {status.risk_blocks}"
            portfolio = again.snapshots.read(leg)["portfolio"]
            assert portfolio["fill_count"] == want["fills"], f"{leg}: a fill lost or refused"
            assert portfolio["realized_pnl"] == pytest.approx(want["realized_pnl"], rel=1e-12)
        assert again.risk_groups.baskets.group("trio").ledger.cash == pytest.approx(expected.cash, rel=1e-9)
    finally:
        close(again)


async def test_a_leg_that_cannot_start_does_not_hold_the_others(tmp_path, log_records):
    path = write_trio_basket(tmp_path)
    services = make_services(tmp_path)
    services.snapshots.path(HELD).parent.mkdir(parents=True, exist_ok=True)
    services.snapshots.path(HELD).write_text("not a snapshot")   # and no journal to rebuild it from
    try:
        manager = BotManager(load_bot_or_basket(path).legs(), services)
        await asyncio.wait_for(manager.run(asyncio.Event()), 30)
        assert manager.status(HELD).state == "failed"
        for leg in LEGS[1:]:                    # they ran to the end, managing, but entered nothing:
            status = manager.status(leg)        # BTC's share of the cash is unknown without it
            assert status.state == "finished" and status.bars == 1500
            assert status.fills == 0 and status.risk_blocks["risk_group:trio"] > 0
        warnings = [r["message"] for r in log_records if r["level"].name == "WARNING"]
        assert any("Basket trio: the leg of BTC/USDT could not start (RecoveryError" in w and
                   "entering nothing until it starts or leaves symbols:" in w for w in warnings), warnings
    finally:
        close(services)


async def test_a_stop_while_the_legs_wait_for_a_held_leg_ends_the_daemon(tmp_path):
    path = write_trio_basket(tmp_path)
    services = make_services(tmp_path)
    services.checkpoints = HeldStart(services, HELD)                # never released
    try:
        manager, stop = BotManager(load_bot_or_basket(path).legs(), services), asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        await eventually(lambda: all(waiting_at_start(manager, services, leg, symbol)
                                     for leg, symbol in zip(LEGS[1:], SYMBOLS[1:])), timeout_secs=30, poll_secs=0.01)
        stop.set()
        await asyncio.wait_for(running, 20)
        assert all(manager.status(leg).bars == 0 for leg in LEGS)       # none stepped; run() returned: none left
    finally:
        close(services)


async def test_legs_a_cluster_dropped_and_takes_again_wait_for_each_other_again(tmp_path):
    path = write_trio_basket(tmp_path, bars=100_000, speed=600)
    services = make_services(tmp_path)
    manager = BotManager(load_bot_or_basket(path).legs(), services, autostart=False, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        for leg in LEGS:
            manager.take(leg, services.journal.for_bot(leg))
        await eventually(lambda: all(manager.status(leg).bars > 0 for leg in LEGS), timeout_secs=20, poll_secs=0.01)
        for leg in LEGS:                                    # the lease lost: no snapshot
            await manager.drop(leg)
        manager.take(HELD, services.journal.for_bot(HELD))  # taken again, the others not yet
        group = services.risk_groups.baskets.group("trio")
        await eventually(lambda: group.waiting_for() == set(SYMBOLS[1:]), timeout_secs=20, poll_secs=0.01)
        assert manager.status(HELD).state == "starting"     # joined, waiting: not stepping on a stale cash
        for leg in LEGS[1:]:
            manager.take(leg, services.journal.for_bot(leg))
        await eventually(lambda: all(manager.status(leg).state == "running" for leg in LEGS), timeout_secs=20,
                         poll_secs=0.01)
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
        close(services)
