"""A take-profit exit of a bot whose stop rests on the exchange (`execution.stop_on_exchange`),
refused by the exchange although the account holds the coins: the exit had cancelled the stop
first (it locks the coins), so the stop goes back on the exchange (`-xs2`) beside the take-profit
armed again (`-tp2`), and the position is protected as before (`execution.live_exit_refusals`).
Before, both went with a WARNING and nothing protected the position.

The market and the bot are test_exchange_stop_exit_in_part_live's: flat at 30,000 up to candle 61,
30,100 at candle 62 (reaching the take-profit at 30093.01), then 29,900 from candle 63 on (past
the stop at 29942.99, above its limit 29793.28).
"""

from __future__ import annotations

from runner.state.journal import MemoryJournal
from tests.integration.test_exchange_stop_exit_in_part_live import (
    assert_flat_as_the_account, sells_booked, sells_traded, standin, step_through, take_profit_runner,
)

__all__ = ["standin"]          # that module's market: pytest finds the fixture by this name


async def test_a_refused_take_profit_exit_puts_the_stop_back_on_the_exchange_which_then_sells_once(
        standin, account):
    journal = MemoryJournal()
    runner, feed = take_profit_runner(standin, account, journal)
    prefix = runner.order_id_prefix

    def refuse_the_exit(i: int) -> None:
        if i == 62:
            standin.fail_next("POST /api/v3/order", status=400, code=-2010,
                              msg="Account has insufficient balance for requested action.")

    await step_through(runner, feed, standin, range(60, 63), before=refuse_the_exit)

    assert standin.order_by_client_id(f"{prefix}1-xs").status == "CANCELED"      # cancelled for the exit
    back = standin.order_by_client_id(f"{prefix}1-xs2")
    assert (back.type, back.status) == ("STOP_LOSS_LIMIT", "NEW")                  # before: no stop at all
    assert [o.client_order_id for o in runner.execution.open_orders()] == [f"{prefix}1-xs2", f"{prefix}1-tp2"]

    await step_through(runner, feed, standin, range(63, 66))      # past the stop: the exchange sells

    assert sells_traded(standin) == [(f"{prefix}1-xs2", float(back.orig_qty))]
    assert sells_booked(journal) == [(f"{prefix}1-xs2", float(back.orig_qty))]
    assert standin.order_submissions[f"{prefix}1-tp"] == 1 and f"{prefix}1-tp2" not in standin.order_submissions
    assert_flat_as_the_account(runner, standin)
