"""A kill journalled past the bot's last snapshot still latches after a crash: a live bot under
the BotManager, on the Binance stand-in through real ccxt, killed (by hand, or by a risk rule)
while its flatten's answer is lost and its lookup hangs, so the process dies after the kill and
the flatten's intent were committed and before the snapshot with the latch was written. Started
again, it comes back killed with its reason, and the flatten that reached the exchange is
followed, not sent a second time.

Helpers, the stand-in's tape and its clock are test_exchange_bots.py's.
"""

from __future__ import annotations

import asyncio

from execution.order_ids import order_id_prefix
from execution.standin import FastForwardClock
from runner.daemon.manager import BotManager
from runner.state.snapshots import SnapshotStore
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import ENTRY_MS, MIN, bot, journalled, restart_until, services_for, standin, until

__all__ = ["standin"]        # the stand-in fixture, imported for pytest


def sells(standin, bot_id: str) -> list:
    prefix = order_id_prefix(bot_id)
    return [o for o in standin.orders if o.side == "SELL" and o.client_order_id.startswith(prefix)]


async def crash_mid_flatten(tmp_path, standin, config, *, kill=None, hold_at_ms: int | None = None) -> int:
    """Run the bot until it holds its position; then its kill switch trips (`kill(manager)`, or
    a rule at the candle closing at `hold_at_ms`, held back until the faults are armed), its
    flatten reaches the exchange and fills but the answer is lost, and the process dies while
    the bot looks the order up. Returns the candles the bot had read then."""
    clock = FastForwardClock(standin)
    if hold_at_ms is not None:
        clock.hold_at(hold_at_ms)
    async with ManagerRun([config], services_for(tmp_path, clock), snapshot_interval_secs=3_600) as run:
        await until(lambda: run.manager.status(config.id).position > 0)
        standin.lose_response_next("POST /api/v3/order")
        lookup = standin.delay_next("GET /api/v3/order", 60)      # hangs until the crash
        killing = asyncio.create_task(kill(run.manager) if kill is not None else asyncio.sleep(0))
        clock.release()
        await until(lambda: len(sells(standin, config.id)) == 1 and lookup not in standin.pending_faults)
        bars = run.manager.status(config.id).bars
        await run.crash(killing)
    return bars


def latched_on_disk(tmp_path, bot_id: str) -> bool:
    """Whether the bot's snapshot on disk holds a tripped latch. Its entry's snapshot may not be
    there at all: a checkpoint is made after the candle's orders, and skipped for one candle
    when the bot is at work again by then (`runner.daemon.checkpoints`)."""
    snapshot = SnapshotStore(tmp_path / "bots").read(bot_id)
    return snapshot is not None and snapshot["kill_switch"]["tripped"]


async def restart_killed_or_trading(tmp_path, standin, config, bars_at_crash: int) -> BotManager:
    """Started again, until killed and flat, or (the gap) trading on two candles past the crash."""
    return await restart_until(tmp_path, standin, config, lambda s: (s.state == "killed" and not s.flatten_pending)
                               or (s.state == "running" and s.bars >= bars_at_crash + 2))


def assert_latched_and_flattened_once(tmp_path, standin, manager: BotManager, bot_id: str, reason: str) -> None:
    status = manager.status(bot_id)
    assert (status.state, status.kill_switch, status.kill_reason, status.last_error) == ("killed", True, reason, "")
    assert len(sells(standin, bot_id)) == 1                     # the flatten, followed: not sent again
    assert max(standin.order_submissions.values()) == 1
    assert status.position < 0.00001                            # flat (dust under one lot step)
    latch = SnapshotStore(tmp_path / "bots").read(bot_id)["kill_switch"]
    assert (latch["tripped"], latch["reason"]) == (True, reason)
    assert [k["reason"] for k in journalled(tmp_path, bot_id, "kill")] == [reason]     # journalled once


async def test_a_kill_by_hand_past_the_snapshot_is_latched_after_a_crash_and_its_flatten_is_not_resent(
        tmp_path, standin):
    config = bot("live-kh", "live", standin.base_url, on_restart="resume",
                 strategy={"name": "test_buys_once_and_holds"})
    bars = await crash_mid_flatten(tmp_path, standin, config,
                                   kill=lambda manager: manager.kill("live-kh", "by hand: looks wrong"))
    assert not latched_on_disk(tmp_path, "live-kh")                                           # the gap

    manager = await restart_killed_or_trading(tmp_path, standin, config, bars)

    assert_latched_and_flattened_once(tmp_path, standin, manager, "live-kh", "by hand: looks wrong")


async def test_a_risk_rule_kill_past_the_snapshot_is_latched_after_a_crash_and_its_flatten_is_not_resent(
        tmp_path, standin):
    config = bot("live-kr", "live", standin.base_url, on_restart="resume",
                 strategy={"name": "test_enters_and_exits_once"}, risk={"stake_pct": 0.5, "max_drawdown_pct": 0.0001})
    # The entry's fee alone is a drawdown past the rule's: it trips at the candle after the entry's.
    bars = await crash_mid_flatten(tmp_path, standin, config, hold_at_ms=ENTRY_MS + 2 * MIN)
    assert not latched_on_disk(tmp_path, "live-kr")                                           # the gap
    [kill] = journalled(tmp_path, "live-kr", "kill")

    manager = await restart_killed_or_trading(tmp_path, standin, config, bars)

    assert kill["source"] == "rule" and kill["reason"].startswith("drawdown ")
    assert_latched_and_flattened_once(tmp_path, standin, manager, "live-kr", kill["reason"])
