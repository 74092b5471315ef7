"""A governance pause outlives a daemon restart: a paper bot paused by drift under the BotManager,
on the Binance stand-in through real ccxt, comes back stopped with its reason until `start`,
shown so from its first status answer (never running), and its governance events are journalled
once each, under keys.

Helpers, the stand-in's tape and its clock are test_exchange_bots.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from execution.standin import FastForwardClock
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG
from tests.integration.manager_runs import ManagerRun
from tests.integration.states_shown import StatesShown, states_shown
from tests.integration.test_exchange_bots import bot, services_for, standin, until

__all__ = ["standin"]        # the stand-in fixture, imported for pytest

GOVERNANCE = {"enabled": True, "start_level": 1, "promotion": {"min_trades": 1_000},
              "drift": {"every_candles": 6, "window_candles": 30, "min_trades": 1}}


@register
class TradesInItsFirstInstanceOnly(Strategy):
    """Round trips (long on every 4th candle, flat two later), made only by the first instance
    built since `made` was cleared: the bot's. The drift check's backtest builds another, which
    never trades, so the bot's trades diverge from it (n trades against none) and governance
    pauses the bot at its first check."""

    name = "test_trades_in_its_first_instance_only"
    made: list[Strategy] = []

    def __init__(self, params) -> None:
        super().__init__(params)
        self.made.append(self)

    def generate_signal(self, market_data):
        if self is not self.made[0]:
            return None
        step = market_data.bar_index % 4
        return GO_LONG if step == 0 else GO_FLAT if step == 2 else None


def governed_bot(standin):
    return bot("paper-gov", "paper", standin.base_url, strategy={"name": TradesInItsFirstInstanceOnly.name},
               governance=GOVERNANCE)


async def paused_by_drift(tmp_path, standin, config, *, ended_by: str) -> str:
    """Run the bot until drift pauses it; then stop the daemon, or crash it. The pause's reason."""
    TradesInItsFirstInstanceOnly.made.clear()
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
        try:
            await until(lambda: run.manager.status(config.id).state == "stopped")
            [governance] = run.manager.governance(config.id)
            assert governance.figures["paused"].startswith("drift: ")
        finally:
            if ended_by == "crash":
                await asyncio.sleep(0.05)          # the snapshot the pause wrote reaches the disk (a crash after)
                await run.crash()
    return governance.figures["paused"]


@asynccontextmanager
async def restarted(tmp_path, sock_dir, standin, config, *,
                    over_socket: bool = True) -> AsyncIterator[tuple[ManagerRun, StatesShown]]:
    """The daemon started again on the same state folder, its bot's status read from before its
    start, over the control socket and at every loop turn (`states_shown`), until the socket
    answers stopped (or, with `over_socket=False`, the first loop turn it is shown stopped);
    stopped cleanly when the block ends. A bot that came back trading is never stopped, and the
    test fails here."""
    run = ManagerRun([config], services_for(tmp_path, FastForwardClock(standin)))
    async with states_shown(run.manager, config.id, sock_dir / "botrunner.sock") as shown:
        async with run:
            await shown.until("stopped", over_socket=over_socket)
            yield run, shown


def assert_stopped_from_its_first_answer(shown: StatesShown, reason: str) -> None:
    """Never running: created and being built (`starting`), then stopped with the pause's reason
    at every answer and every loop turn until now. (Before, it was shown running from its start
    until its run had returned and its last snapshot had had its turn: a loop turn or more.)"""
    in_process = shown.halt()
    assert in_process == ["created", "starting", "stopped"] and "running" not in shown.over_socket
    assert {seen.paused for seen in shown.in_process if seen.status.state == "stopped"} == {reason}


def governance_events(run: ManagerRun, bot_id: str) -> list:
    return run.services.journal.for_bot(bot_id).events(kinds=("governance",))


async def test_a_bot_paused_by_governance_comes_back_paused_after_a_restart_until_started_by_hand(
        tmp_path, sock_dir, standin):
    config = governed_bot(standin)
    reason = await paused_by_drift(tmp_path, standin, config, ended_by="stop")

    async with restarted(tmp_path, sock_dir, standin, config) as (run, shown):
        manager = run.manager
        paused = manager.status(config.id)
        [governance] = manager.governance(config.id)
        assert (paused.state, governance.figures["paused"]) == ("stopped", reason)
        bars = paused.bars
        await asyncio.sleep(0.3)                                 # candles keep closing on the stand-in
        assert manager.status(config.id).bars == bars            # and the paused bot reads none
        assert_stopped_from_its_first_answer(shown, reason)

        started = await manager.start(config.id)                 # `botrunner start`: the pause ends
        await until(lambda: manager.status(config.id).bars > bars)
        assert started.state in ("starting", "running") and manager.status(config.id).state == "running"
        assert manager.governance(config.id)[0].figures["paused"] is None
        events = governance_events(run, config.id)

    actions = [e.data["action"] for e in events]
    # Trading again, the bot may decide anew before the journal is read (drift_none: back within
    # bounds, seen in 1 run of 5): the pause is once, and ended by the resume.
    assert actions.count("drift_pause") == 1 and actions.index("resume") > actions.index("drift_pause")
    assert [e.key for e in events] == [f"{e.key.split('.')[0]}.{n}" for n, e in enumerate(events)]   # <bars>.<n>
    assert SnapshotStore(tmp_path / "bots").read(config.id)["governance"]["pause_reason"] is None


async def test_a_pause_survives_a_crash_and_the_next_keys_follow_the_journal(tmp_path, sock_dir, standin):
    config = governed_bot(standin)
    reason = await paused_by_drift(tmp_path, standin, config, ended_by="crash")

    # Started by hand at the first loop turn it is shown stopped: its task is still at its run's
    # end then (its last snapshot, its parts closing), and `start` waits for it.
    async with restarted(tmp_path, sock_dir, standin, config, over_socket=False) as (run, shown):
        manager = run.manager
        assert manager.governance(config.id)[0].figures["paused"] == reason
        assert_stopped_from_its_first_answer(shown, reason)
        await manager.start(config.id)
        await until(lambda: manager.status(config.id).state == "running")
        events = governance_events(run, config.id)
    assert [int(e.key.split(".")[1]) for e in events] == list(range(len(events)))   # no key made twice
