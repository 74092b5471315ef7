"""A live market exit for a trailing stop that the exchange fills in part (Binance expires the
rest of a MARKET order the book cannot fill: EXPIRED), then a crash: the restarted bot protects
the rest and sells it once. Its entry's exits come back for the rest only, under the next ids
(`-ts2`), whether the exit's fill was journalled before the crash (the snapshot on disk is from
before the exit) or is found on the exchange by the restart's reconciliation (its answer was
lost). Before, either fill dropped the entry's exits at the restart, as if the exit had sold
everything (`runner.state.exits_past_snapshot.exits_after_fills`), and the rest was held with
no stop at all.

Under the BotManager on the Binance stand-in through real ccxt, with the tape and helpers of
test_trailing_stop_restart.py: the price falls 2% a candle past the stop, so the first candle
the restarted bot checks its exits against reaches the stop again.
"""

from __future__ import annotations

import pytest

from execution.standin import FastForwardClock
from market.models import iso_utc
from runner.state.snapshots import SnapshotStore
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import MIN, T0_MS, bot_trades, journalled, services_for, until
from tests.integration.test_exit_intents_after_restart import crash_with_the_exit_in_flight
from tests.integration.test_trailing_stop_restart import (
    FALL, REACHING_MS, config_for, exit_orders_sent, new_standin, run_until,
)

PART = "0.4"        # of the exit the book fills; the rest of the MARKET order expires


async def crash_after_the_exit_filled_in_part(tmp_path, standin, config) -> None:
    """Run the bot to the candle reaching its trailing stop, whose exit the exchange fills in
    part; the fill is journalled and the process dies before another candle."""
    clock = FastForwardClock(standin)
    clock.hold_at(REACHING_MS + MIN)                 # the candle reaching the stop closes then
    async with ManagerRun([config], services_for(tmp_path, clock), snapshot_interval_secs=3_600) as run:
        await until(lambda: run.manager.status(config.id).last_candle_time == iso_utc(REACHING_MS - MIN))
        standin.partial_fill_next(PART)
        clock.release()
        clock.hold_at(REACHING_MS + 2 * MIN)         # that candle only
        await until(lambda: run.manager.status(config.id).fills == 2)
        await run.crash()


def sells(tmp_path, bot_id: str) -> list[tuple[str, float]]:
    return [(f["order_id"], f["quantity"]) for f in journalled(tmp_path, bot_id, "fill") if f["side"] == "sell"]


def assert_fills_are_the_exchanges_trades(tmp_path, standin, bot_id: str) -> None:
    client_ids = {o.order_id: o.client_order_id for o in standin.orders}
    trades = sorted((str(t.id), client_ids[t.order_id], float(t.qty)) for t in bot_trades(standin, bot_id))
    fills = sorted((f["fill_id"], f["order_id"], f["quantity"]) for f in journalled(tmp_path, bot_id, "fill"))
    assert fills == trades


@pytest.mark.parametrize("on_restart", ["resume", "halt"])
async def test_an_exit_filled_in_part_journalled_past_the_snapshot_leaves_the_rest_protected_and_sold_once(
        tmp_path, on_restart):
    async with new_standin() as standin:
        # halt: the exit, expired with every trade journalled, is no difference to wait for a person on
        config = config_for("live", standin.base_url).model_copy(update={"on_restart": on_restart})
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)   # its stop at the top's level
        snapshots = SnapshotStore(tmp_path / "bots")
        before_the_exit = snapshots.path(config.id).read_bytes()
        await crash_after_the_exit_filled_in_part(tmp_path, standin, config)
        # The exit's fill is in the journal; the snapshot on disk is from before it, as when the
        # process dies between the fill's journal commit and the snapshot's write.
        snapshots.path(config.id).write_bytes(before_the_exit)
        [(exit_id, part)] = sells(tmp_path, config.id)
        assert exit_id.endswith("-ts") and standin.order_by_client_id(exit_id).status == "EXPIRED"

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 5 * MIN))

        [(_, rest)] = [s for s in sells(tmp_path, config.id) if s[0] != exit_id]
        assert sells(tmp_path, config.id) == [(exit_id, part), (f"{exit_id}2", rest)]     # before: no second sell
        assert exit_orders_sent(standin, config.id) == [(exit_id, 1), (f"{exit_id}2", 1)]
        assert_fills_are_the_exchanges_trades(tmp_path, standin, config.id)
        assert manager.status(config.id).position < 0.00001          # dust under one lot step
        assert float(standin.balances["BTC"].free) < 0.00001


async def test_an_exit_filled_in_part_found_by_the_restarts_reconciliation_leaves_the_rest_protected_and_sold_once(
        tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)   # its stop at the top's level
        standin.partial_fill_next(PART)
        await crash_with_the_exit_in_flight(tmp_path, standin, config)   # it fills in part; its answer is lost
        [(exit_id, sent)] = exit_orders_sent(standin, config.id)
        assert sent == 1
        assert standin.order_by_client_id(exit_id).status == "EXPIRED" and sells(tmp_path, config.id) == []

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 5 * MIN))

        part = float(standin.order_by_client_id(exit_id).executed_qty)
        [(_, rest)] = [s for s in sells(tmp_path, config.id) if s[0] != exit_id]
        assert sells(tmp_path, config.id) == [(exit_id, part), (f"{exit_id}2", rest)]     # before: no second sell
        assert exit_orders_sent(standin, config.id) == [(exit_id, 1), (f"{exit_id}2", 1)]
        assert [c["order_id"] for c in journalled(tmp_path, config.id, "cancel")] == []  # before: -ts2 'exit filled'
        assert_fills_are_the_exchanges_trades(tmp_path, standin, config.id)
        assert manager.status(config.id).position < 0.00001
        assert float(standin.balances["BTC"].free) < 0.00001
