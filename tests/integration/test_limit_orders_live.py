"""Limit orders from strategies on the Binance stand-in, through the real ccxt client: a live
bot's limit entry rests on the exchange and fills as a maker, expires (cancelled on the
exchange), is cancelled by the kill switch, survives a restart without being sent again, and
partial fills are booked as they come; a paper bot's limit entry fills by the candles.

The stand-in and its account come from tests/integration/conftest.py. The market: the
stand-in's clock starts at candle 60 (close 30600, ask 30603.06); after it closes fall by 20 a
candle and lows sit 25 under the body, so a buy limit at 30500 is first reached by candle 64.
`push(i)` moves the stand-in to candle i (it trades the candle's range as it opens) and hands
the closed candle i to the bot.
"""

from __future__ import annotations

from typing import Any

import pytest

from execution.models import Side
from execution.order_request import limit_price
from execution.standin import BinanceStandIn
from risk.config import RiskConfig
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import Direction, LimitSignal
from tests.integration.pushed_runners import SYMBOL, Push, cancels, live_engine, paper_engine

PREFIX = "brlimit001-"


def buy_limit(price: float, expire_after: int | None = None) -> LimitSignal:
    return LimitSignal(Direction.LONG, "dip", price=price, expire_after=expire_after)


@pytest.fixture
def bots(account, pushed_runners):
    """Factory: `bots(script, execution=None, state=None, journal=None, risk=...)` -> (runner, push)
    (tests/integration/pushed_runners.py); a live engine on the stand-in unless `execution` is
    given; `state` restores a snapshot first (a restart)."""
    def make(script: dict, *, execution: Any = None, state: dict | None = None, journal: MemoryJournal | None = None,
             risk: RiskConfig = RiskConfig(stake_pct=0.1)) -> tuple[StrategyRunner, Push]:
        return pushed_runners("limit-bot", execution or live_engine(account, PREFIX), script, risk, PREFIX,
                              journal=journal, before_run=None if state is None else lambda runner: runner.restore(state))
    return make


def posted(standin: BinanceStandIn) -> list[dict[str, str]]:
    return [r.params for r in standin.requests if r.method == "POST" and r.path == "/api/v3/order"]


async def test_a_limit_entry_goes_out_gtc_on_the_tick_rests_and_fills_as_a_maker_at_its_price(bots, standin):
    runner, push = bots({0: buy_limit(30_500.0079)})
    await push(60)
    [sent] = posted(standin)
    assert (sent["type"], sent["timeInForce"], sent["price"]) == ("LIMIT", "GTC", "30500")   # rounded down
    assert sent["quantity"] == "0.00327"                        # 100 USDT at the limit price, down to the step
    for i in (61, 62, 63):
        await push(i)
        assert runner.fills == 0 and [o.status for o in standin.orders] == ["NEW"]
    await push(64)

    [trade] = standin.trades
    assert (float(trade.price), trade.is_maker) == (30_500.0, True)
    [fill] = runner.journal.of_kind("fill")
    assert (fill.data["price"], fill.data["quantity"]) == (30_500.0, 0.00327)
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert standin.order_submissions == {f"{PREFIX}1": 1}


async def test_a_limit_entry_not_reached_in_time_is_cancelled_on_the_exchange_at_its_expiry(bots, standin):
    runner, push = bots({0: buy_limit(30_500.0, expire_after=2)})
    for i in (60, 61):
        await push(i)
    assert [o.status for o in standin.orders] == ["NEW"]
    await push(62)                                              # the second candle after candle 60 closes

    assert [o.status for o in standin.orders] == ["CANCELED"] and cancels(runner) == ["expired"]
    for i in (63, 64):
        await push(i)
    assert standin.trades == [] and runner.portfolio.quantity == 0.0
    assert standin.balances["USDT"].locked == 0                 # the exchange gave the funds back


async def test_a_partial_fill_is_booked_as_it_comes_and_the_rest_is_cancelled_at_expiry(bots, standin):
    runner, push = bots({0: buy_limit(30_500.0, expire_after=4)})
    for i in (60, 61, 62, 63):
        await push(i)
    standin.partial_fill_next(0.5)
    await push(64)                                              # half fills on the last candle it lives

    [order] = standin.orders
    assert (order.status, float(order.executed_qty)) == ("CANCELED", 0.00163)
    [fill] = runner.journal.of_kind("fill")
    assert fill.data["quantity"] == 0.00163 and cancels(runner) == ["expired"]
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)


async def test_the_kill_switch_cancels_a_resting_limit_entry_on_the_exchange(bots, standin):
    runner, push = bots({0: buy_limit(30_500.0)})
    await push(60)
    await runner.kill_now("by hand")

    assert runner.state is RunnerState.KILLED and not runner.flatten_pending
    assert [o.status for o in standin.orders] == ["CANCELED"] and cancels(runner) == ["kill switch"]
    assert [o.side for o in standin.orders] == ["BUY"]           # nothing to sell: nothing filled


async def test_a_restarted_bot_follows_its_resting_limit_order_and_never_sends_it_again(bots, account, standin):
    journal = MemoryJournal()
    first, push = bots({0: buy_limit(30_500.0, expire_after=10)}, journal=journal)
    await push(60)
    await push(61)
    state = first.snapshot()                                   # then the process goes away

    second, push = bots({}, state=state, journal=journal)
    for i in (62, 63, 64):
        await push(i)

    assert standin.order_submissions == {f"{PREFIX}1": 1}
    [fill] = journal.of_kind("fill")
    assert (fill.data["order_id"], fill.data["price"]) == (f"{PREFIX}1", 30_500.0)
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert second._limit_expiries is None                      # filled: no expiry left to watch


async def test_limit_prices_are_rounded_to_the_tick_never_against_the_strategy(account):
    await account.load_markets()
    assert limit_price(account, SYMBOL, 30_500.019, Side.BUY) == 30_500.01
    assert limit_price(account, SYMBOL, 30_500.011, Side.SELL) == 30_500.02
    assert limit_price(account, SYMBOL, 30_500.01, Side.SELL) == 30_500.01     # on the tick: unchanged
    assert limit_price(account, SYMBOL, 30_500.01, Side.BUY) == 30_500.01


async def test_a_paper_limit_entry_rests_until_a_candle_trades_through_it_and_fills_at_its_price(bots, account, standin):
    paper = paper_engine(account)
    runner, push = bots({0: buy_limit(30_500.0, expire_after=6)}, execution=paper)
    for i in (60, 61, 62, 63):
        await push(i)
    assert runner.fills == 0 and [o.price for o in paper.open_orders()] == [30_500.0]
    await push(64)

    [fill] = runner.journal.of_kind("fill")
    assert (fill.data["price"], fill.data["quantity"]) == (30_500.0, pytest.approx(100.0 / 30_500.0))
    assert posted(standin) == [] and paper.open_orders() == []   # paper sends nothing


async def test_a_paper_limit_entry_expires_like_a_live_one(bots, account, standin):
    paper = paper_engine(account)
    runner, push = bots({0: buy_limit(30_500.0, expire_after=2)}, execution=paper)
    for i in (60, 61, 62):
        await push(i)
    assert cancels(runner) == ["expired"] and paper.open_orders() == [] and runner.fills == 0


async def test_an_exit_signal_cancels_a_partly_filled_limit_entry_and_sells_what_filled(bots, standin):
    runner, push = bots({0: buy_limit(30_500.0), 4: LimitSignal(Direction.FLAT, "out", price=30_400.0)})
    for i in (60, 61, 62, 63):
        await push(i)
    standin.partial_fill_next(0.5)
    await push(64)                         # half the entry fills, then the strategy exits on the same candle

    entry, exit_ = standin.orders
    assert (entry.status, float(entry.executed_qty)) == ("CANCELED", 0.00163)
    assert cancels(runner) == ["exit signal"]
    assert (exit_.side, exit_.type, exit_.status) == ("SELL", "LIMIT", "FILLED")
    assert float(exit_.orig_qty) == 0.00162                     # what filled, less the fee taken in BTC, on the step
    assert float(exit_.trades[0].price) > 30_400.0              # the bid was above the limit: a better price
    assert standin.order_submissions == {f"{PREFIX}1": 1, f"{PREFIX}2": 1}
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)


async def test_a_partly_filled_entry_that_expires_keeps_its_stop_loss_for_what_filled(bots, standin):
    runner, push = bots({0: buy_limit(30_500.0, expire_after=4)}, risk=RiskConfig(stake_pct=0.1, stop_loss_pct=0.002))
    for i in (60, 61, 62, 63):
        await push(i)
    standin.partial_fill_next(0.5)
    await push(64)                                              # half fills; the rest expires

    [stop] = runner.execution.open_orders()
    assert (stop.client_order_id, stop.type.value, stop.stop_price) == (f"{PREFIX}1-sl", "stop", 30_500.0 * 0.998)
    assert stop.quantity == pytest.approx(runner.portfolio.quantity)
    assert cancels(runner) == ["expired"]
    for i in (65, 66, 67):                                      # candle 67's low (30,435) reaches the stop
        await push(i)

    exit_ = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (exit_.side, exit_.type, exit_.status) == ("SELL", "MARKET", "FILLED")
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)


async def test_the_kill_switch_cancels_a_paper_bots_resting_limit_entry(bots, account):
    paper = paper_engine(account)
    runner, push = bots({0: buy_limit(30_500.0)}, execution=paper)
    await push(60)
    assert [o.price for o in paper.open_orders()] == [30_500.0]
    await runner.kill_now("by hand")

    assert runner.state is RunnerState.KILLED and not runner.flatten_pending
    assert cancels(runner) == ["kill switch"] and paper.open_orders() == [] and runner.fills == 0
