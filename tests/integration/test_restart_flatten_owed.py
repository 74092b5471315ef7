"""`on_restart: flatten` owed across a second restart, under the BotManager, against the Binance
stand-in through real ccxt: the flatten a restart owes is in the snapshot, and the next start
finishes it even when the exchange agrees with the journal by then.

Helpers, the stand-in's tape and its clock are test_exchange_bots.py's.
"""

from __future__ import annotations

import pytest

from execution.order_ids import order_id_prefix
from execution.standin import FastForwardClock
from execution.standin.ledger import base_moved
from runner.state.snapshots import SnapshotStore
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import (bot, bot_trades, crash_with_the_entry_unknown, journalled,
                                                  services_for, standin, until)

__all__ = ["standin"]        # the stand-in fixture, imported for pytest


@pytest.mark.parametrize("ended_by", ["stop", "crash"])
async def test_a_flatten_owed_at_a_restart_is_finished_at_the_next_start_though_the_exchange_then_agrees(
        tmp_path, standin, ended_by):
    config = bot("live-o", "live", standin.base_url, on_restart="flatten", strategy={"name": "test_buys_once_and_holds"})
    # 1. The entry fills on the exchange, its answer is lost, the process dies looking it up.
    entry = await crash_with_the_entry_unknown(tmp_path, standin, config)

    # 2. The restart looks the entry up, books its fill, and owes the flatten: the exchange
    # refuses the sell. No candle closes meanwhile (no retry); the daemon is stopped, or dies,
    # with the flatten owed (a stop writes a snapshot; a crash leaves the one written as it owed).
    standin.fail_next("POST /api/v3/order", status=400, code=-2010,
                      msg="Account has insufficient balance for requested action.")
    clock = FastForwardClock(standin)
    clock.hold_at(standin.now_ms + 1)
    async with ManagerRun([config], services_for(tmp_path, clock)) as run:
        try:
            await until(lambda: run.manager.status("live-o").state == "running")
            owing = run.manager.status("live-o")
            assert owing.flatten_pending and owing.position > 0
        finally:
            if ended_by == "crash":
                await run.crash()
    assert SnapshotStore(tmp_path / "bots").read("live-o")["restart_flatten"] == "on_restart: flatten"

    # 3. The next start: the journal and the exchange agree now (nothing to reconcile), but the
    # flatten is still owed, so the position is closed, once.
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
        await until(lambda: run.manager.status("live-o").bars >= 3)
        status = run.manager.status("live-o")

    ours = [o for o in standin.orders if o.client_order_id.startswith(order_id_prefix("live-o"))]
    [buy, sell] = ours
    assert (buy, sell.side, sell.status) == (entry, "SELL", "FILLED")
    flattens = [d for d in journalled(tmp_path, "live-o", "order") if d["reason"] == "on_restart: flatten"]
    assert flattens[-1]["order_id"] == sell.client_order_id      # the refused one, then this one
    assert max(standin.order_submissions.values()) == 1
    assert (status.state, status.flatten_pending) == ("running", False)
    assert status.position == pytest.approx(base_moved(bot_trades(standin, "live-o")), abs=1e-12)
    assert status.position < 0.00001                             # flat: dust under one lot step at most
    assert "restart_flatten" not in SnapshotStore(tmp_path / "bots").read("live-o")
