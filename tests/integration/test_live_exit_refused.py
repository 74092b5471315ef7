"""A market exit `LiveExecution` sends itself for a bot-managed exit (stop-loss, take-profit,
trailing stop) that the exchange refuses: the position is never left without exits.

- The account holds less than the exit sells (coins sold by hand, a fee, a transfer): Binance
  answers -2010 "Account has insufficient balance for requested action."; the difference is
  booked as an outside change and the exits are armed again for what is held, under new ids;
  what is held under the market's minimum (dust) leaves the position flat.
- The account holds enough (refused for another reason): the exits are armed again under new
  ids, so the next candle reaching one tries again; after `MAX_EXIT_REFUSALS` refusals in a row
  the bot stops with an error naming them (`ExitRefused`), never looping on refused orders.

Over HTTP on the stand-in through the real ccxt client: the refusal for want of coins is the
stand-in's own (the test moves the account's BTC out with `set_balance`). The market is
test_live_execution's: an entry at the ask 30603.06 with `stop_loss_pct` 0.002 has its stop at
30541.85, which candle 62 (low 30535) reaches first, and candles 63, 64 and 65 again.
"""

from __future__ import annotations

import asyncio

import pytest

from execution.errors import ExitRefused
from execution.models import Side
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.errors import BotMustStayDown
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted
from tests.integration.test_live_execution import (
    PREFIX, SYMBOL, assert_ledger_matches, buy, candle, engine, settled, warnings_in,
)
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms

__all__ = ["engine"]        # test_live_execution's fixture: pytest finds it by this name

INSUFFICIENT = "Account has insufficient balance for requested action."


def exits_of(engine) -> list[tuple[str, float]]:
    return [(o.client_order_id, round(o.quantity, 8)) for o in engine.open_orders()]


def account_btc(standin) -> float:
    balance = standin.balances["BTC"]
    return float(balance.free + balance.locked)


async def test_an_exit_refused_for_coins_sold_by_hand_books_them_as_an_outside_change_and_protects_the_rest(
        engine, standin, log_records):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    held = bought.quantity - bought.base_fee                    # 0.00999: the fee came off the BTC
    standin.set_balance("BTC", 0.006)                           # someone sold 0.00399 of it by hand
    standin.advance_to(candle_ms(63))

    # The stop is reached; the stand-in refuses the sell of 0.00999 for want of coins (-2010).
    [outside] = await engine.on_candle(candle(62))

    assert (outside.client_order_id, outside.side, outside.reason, outside.fee) == (
        f"{PREFIX}1-sl", Side.SELL, "outside_change", 0.0)
    assert outside.quantity == pytest.approx(held - 0.006) and outside.price == candle(62).close
    assert exits_of(engine) == [(f"{PREFIX}1-sl2", 0.006), (f"{PREFIX}1-tp2", 0.006)]    # what is held, new ids
    [warning] = [m for m in warnings_in(log_records) if "outside change" in m]
    assert all(s in warning for s in (SYMBOL, f"{PREFIX}1", "0.006", "0.00999"))

    standin.advance_to(candle_ms(64))
    [sold] = await engine.on_candle(candle(63))                 # low 30515: the stop again, for what is held

    assert (sold.client_order_id, sold.quantity) == (f"{PREFIX}1-sl2", 0.006)
    assert engine.open_orders() == [] and account_btc(standin) == 0.0
    assert dict(standin.order_submissions) == {f"{PREFIX}1": 1, f"{PREFIX}1-sl": 1, f"{PREFIX}1-sl2": 1}
    assert bought.quantity - bought.base_fee - outside.quantity - sold.quantity == pytest.approx(0.0, abs=1e-12)
    assert_ledger_matches([bought, sold], standin)              # the outside change is no trade


async def test_an_exit_refused_when_only_dust_is_left_books_the_rest_out_and_leaves_the_position_flat(
        engine, standin, log_records):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    standin.set_balance("BTC", 0.000004)                        # under one lot step (0.00001)
    standin.advance_to(candle_ms(63))

    [outside] = await engine.on_candle(candle(62))

    assert (outside.reason, outside.quantity) == ("outside_change", pytest.approx(0.00999 - 0.000004))
    assert engine.open_orders() == []
    assert any("dust" in m and "flat" in m for m in warnings_in(log_records))
    standin.advance_to(candle_ms(64))
    assert list(await engine.on_candle(candle(63))) == []       # nothing left to sell: nothing sent
    assert dict(standin.order_submissions) == {f"{PREFIX}1": 1, f"{PREFIX}1-sl": 1}


async def test_an_exit_refused_although_the_account_holds_the_coins_is_tried_again_at_the_next_candle_under_a_new_id(
        engine, standin, log_records):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))
    standin.advance_to(candle_ms(63))
    standin.fail_next("POST /api/v3/order", status=400, code=-2010, msg=INSUFFICIENT)
    assert await engine.on_candle(candle(62)) == []

    # The account holds the 0.00999: not an outside change. The stop is armed again, new id.
    assert exits_of(engine) == [(f"{PREFIX}1-sl2", 0.00999)]
    assert not any("outside change" in m for m in warnings_in(log_records))
    standin.advance_to(candle_ms(64))
    [sold] = await engine.on_candle(candle(63))

    assert sold.client_order_id == f"{PREFIX}1-sl2" and engine.open_orders() == []
    assert dict(standin.order_submissions) == {f"{PREFIX}1": 1, f"{PREFIX}1-sl": 1, f"{PREFIX}1-sl2": 1}
    assert_ledger_matches([bought, sold], standin)


async def test_an_exit_refused_three_times_stops_the_engine_with_an_error_never_sending_one_id_twice(engine, standin):
    await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    standin.fail_next("POST /api/v3/order", status=400, code=-1013, msg="Filter failure: PERCENT_PRICE_BY_SIDE",
                      times=3)
    for i in (62, 63):
        standin.advance_to(candle_ms(i + 1))
        assert await engine.on_candle(candle(i)) == []
    standin.advance_to(candle_ms(65))

    with pytest.raises(ExitRefused, match=rf"{PREFIX}1 3 times") as refused:
        await engine.on_candle(candle(64))

    assert "PERCENT_PRICE_BY_SIDE" in str(refused.value) and SYMBOL in str(refused.value)
    assert dict(standin.order_submissions) == {
        f"{PREFIX}1": 1, f"{PREFIX}1-sl": 1, f"{PREFIX}1-sl2": 1, f"{PREFIX}1-sl3": 1}
    # Still armed, under ids never sent, so a snapshot keeps the position's exits for a restart.
    assert [o.client_order_id for o in engine.open_orders()] == [f"{PREFIX}1-sl4", f"{PREFIX}1-tp4"]
    with pytest.raises(ExitRefused):                       # and it stays stopped
        await engine.on_candle(candle(65))
    assert [o.side for o in standin.orders] == ["BUY"]


async def test_a_refusal_between_accepted_exits_does_not_count_towards_the_limit(engine, standin):
    """The count is of refusals in a row: an exit of the entry that the exchange takes (here the
    second, which the stand-in's partial fill leaves with a rest) starts it again."""
    await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))
    for i in (62, 63):
        standin.advance_to(candle_ms(i + 1))
        standin.fail_next("POST /api/v3/order", status=400, code=-2010, msg=INSUFFICIENT)
        assert await engine.on_candle(candle(i)) == []
    standin.partial_fill_next(0.5)
    standin.advance_to(candle_ms(65))
    [half] = await engine.on_candle(candle(64))                 # -sl3 taken, half of it sold
    assert half.client_order_id == f"{PREFIX}1-sl3"
    for i in (65, 66):
        standin.advance_to(candle_ms(i + 1))
        standin.fail_next("POST /api/v3/order", status=400, code=-2010, msg=INSUFFICIENT)
        assert await engine.on_candle(candle(i)) == []          # refusals 1 and 2 of the rest's exits
    assert [o.client_order_id for o in engine.open_orders()] == [f"{PREFIX}1-sl6"]


# -- through the runner ----------------------------------------------------------------------


def runner_on(engine, *, stop_loss_pct: float) -> tuple[StrategyRunner, QueuedFeed, asyncio.Task]:
    feed = QueuedFeed(SYMBOL)
    runner = StrategyRunner("live-bot", feed=feed, strategy=Scripted({0: GO_LONG}), execution=engine,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1, stop_loss_pct=stop_loss_pct)),
                            portfolio=Portfolio(SYMBOL, 1_000.0), journal=MemoryJournal(), order_id_prefix=PREFIX)
    return runner, feed, asyncio.create_task(runner.run())


async def push(runner: StrategyRunner, feed: QueuedFeed, engine, i: int) -> None:
    seen = runner.bars
    feed.queue.put_nowait(candle(i))
    await settled(lambda: runner.bars > seen and not runner.busy and not engine.reconciling)


async def test_the_runner_books_the_outside_change_so_its_position_is_what_the_account_holds(engine, standin):
    runner, feed, task = runner_on(engine, stop_loss_pct=0.002)
    try:
        await push(runner, feed, engine, NOW_INDEX)                  # buys 100 USDT of BTC
        standin.set_balance("BTC", 0.002)                            # a transfer out
        standin.advance_to(candle_ms(63))
        await push(runner, feed, engine, 62)                         # the stop: refused, the change booked

        assert runner.portfolio.quantity == pytest.approx(0.002, abs=1e-12)
        [change] = [e.data for e in runner.journal.of_kind("fill") if e.data["reason"] == "outside_change"]
        assert change["order_id"] == f"{PREFIX}1-sl" and change["position"] == pytest.approx(0.002, abs=1e-12)

        standin.advance_to(candle_ms(64))
        await push(runner, feed, engine, 63)                         # -sl2 sells what is held
        assert runner.portfolio.quantity == pytest.approx(account_btc(standin), abs=1e-12) == 0.0
        assert runner.state is RunnerState.RUNNING
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_runner_stops_and_stays_down_when_its_exit_is_refused_three_times(engine, standin):
    runner, feed, task = runner_on(engine, stop_loss_pct=0.002)
    await push(runner, feed, engine, NOW_INDEX)
    standin.fail_next("POST /api/v3/order", status=400, code=-1013, msg="Filter failure: PERCENT_PRICE_BY_SIDE",
                      times=3)
    for i in (62, 63, 64):
        standin.advance_to(candle_ms(i + 1))
        feed.queue.put_nowait(candle(i))
    await settled(task.done)

    with pytest.raises(BotMustStayDown, match="3 times"):
        task.result()
    assert runner.state is RunnerState.FAILED
    assert [o.side for o in standin.orders] == ["BUY"] and runner.portfolio.quantity > 0
