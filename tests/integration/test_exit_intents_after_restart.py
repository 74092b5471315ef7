"""A market exit a live bot sends for a bot-managed stop (here a trailing stop) is journalled as
an intent before it leaves, as the runner's own orders are: after a crash between its send and
its answer, the restart follows it by its client order id. Before, only the restart's
reconciliation could find its fill; when the exchange's trade list did not show the trade yet
(it lags the order), the bot came back with its stop armed, sent the exit a second time under
the same id (Binance takes an id again once its order is closed) and held a position it had sold.
Under the BotManager on the Binance stand-in through real ccxt, with the helpers of
test_trailing_stop_restart.py.
"""

from __future__ import annotations

from execution.standin import FastForwardClock
from market.models import iso_utc
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import MIN, T0_MS, journalled, services_for, until
from tests.integration.test_trailing_stop_restart import (
    FALL, REACHING_MS, config_for, exit_orders_sent, new_standin, run_until,
)


async def crash_with_the_exit_in_flight(tmp_path, standin, config, *, trades_lag_requests: int = 0,
                                        lands: bool = True) -> None:
    """Run the bot until the candle before the one reaching its trailing stop; then the exit
    reaches the exchange and fills, its answer is lost, its lookup hangs, and the process dies.
    `trades_lag_requests`: reads of the trade list that miss the exit's trade after that.
    `lands=False`: the exit never reaches the exchange (a 503 before processing); to the restart
    that is a crash between its intent's commit and its send."""
    clock = FastForwardClock(standin)
    clock.hold_at(REACHING_MS + MIN)                 # the candle reaching the stop closes then
    async with ManagerRun([config], services_for(tmp_path, clock), snapshot_interval_secs=3_600) as run:
        await until(lambda: run.manager.status(config.id).last_candle_time == iso_utc(REACHING_MS - MIN))
        if lands:
            sent = standin.lose_response_next("POST /api/v3/order")
        else:
            sent = standin.fail_next("POST /api/v3/order", status=503)
        if trades_lag_requests:
            standin.lag_trades_next(trades_lag_requests)
        lookup = standin.delay_next("GET /api/v3/order", 60)
        clock.release()
        await until(lambda: sent not in standin.pending_faults and lookup not in standin.pending_faults)
        await run.crash()


def exit_intents(tmp_path, bot_id: str) -> list[str]:
    return [o["order_id"] for o in journalled(tmp_path, bot_id, "order") if o["side"] == "sell"]


async def test_an_exit_lost_in_a_crash_is_followed_by_its_id_when_the_trade_list_lags_at_the_restart(tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)   # its stop at the top's level
        await crash_with_the_exit_in_flight(tmp_path, standin, config, trades_lag_requests=1)
        [exit_id] = [order_id for order_id, _ in exit_orders_sent(standin, config.id)]
        assert exit_intents(tmp_path, config.id) == [exit_id]          # durable before it left

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 5 * MIN))

        assert exit_orders_sent(standin, config.id) == [(exit_id, 1)]      # before: sent again, refused
        sells = [f for f in journalled(tmp_path, config.id, "fill") if f["side"] == "sell"]
        assert [(f["order_id"], f["reason"]) for f in sells] == [(exit_id, "trailing_stop")]   # before: none
        assert manager.status(config.id).position < 0.00001          # dust under one lot step


async def test_an_exit_that_never_reached_the_exchange_before_a_crash_has_its_stop_back_and_sells_once(tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)   # its stop at the top's level
        await crash_with_the_exit_in_flight(tmp_path, standin, config, lands=False)
        assert exit_orders_sent(standin, config.id) == []
        [exit_id] = exit_intents(tmp_path, config.id)                  # journalled, never placed

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 5 * MIN))

        # Looked up twice past the grace, it can never land: the trailing stop is armed again,
        # the price is under it, and a new exit goes under a new id (before: the stop was not
        # restored beside the exit's intent, and the position stayed open, unprotected).
        again = f"{exit_id}2"
        assert exit_orders_sent(standin, config.id) == [(again, 1)]
        assert exit_intents(tmp_path, config.id) == [exit_id, again]
        sells = [f for f in journalled(tmp_path, config.id, "fill") if f["side"] == "sell"]
        assert [(f["order_id"], f["reason"]) for f in sells] == [(again, "trailing_stop")]    # booked once
        assert manager.status(config.id).position < 0.00001          # dust under one lot step
