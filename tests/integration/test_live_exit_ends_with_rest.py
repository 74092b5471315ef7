"""A live market exit for a bot-managed stop that reached the exchange but ended with a rest:
Binance expired it (EXPIRED: a book it emptied; EXPIRED_IN_MATCH: self-trade prevention) with
part or none of it filled. What it sold is booked, and its entry's protective exits are armed
again for the rest, under new ids, so the next candle reaching one sells the rest once
(`execution.live_exits_in_flight`). And a kill's or the runner's exit taking the close over
while an exit is out is not followed by a "close it by hand" warning when that exit never landed.

Over HTTP on the stand-in through the real ccxt client; the market is test_live_execution's:
an entry at the ask 30603.06 with `stop_loss_pct` 0.002 has its stop at 30541.85, which candle
62 (low 30535) reaches first, and candle 63 (low 30515) again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from execution.live import LiveExecution
from execution.models import Fill
from execution.standin import BinanceStandIn
from execution.standin.exchange_info import SymbolRules
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.integration.test_live_execution import (
    PREFIX, SYMBOL, assert_ledger_matches, buy, candle, engine, warnings_in,
)
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms, make_candles

__all__ = ["engine"]        # test_live_execution's fixture: pytest finds it by this name

OTHER_BOT = "brother0001-"       # another bot on the same account


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    """test_live_execution's market, on a symbol whose default STP mode expires the taker (every
    test here; only the STP one puts an own order in an exit's way): an order that meets the
    account's own resting order ends EXPIRED_IN_MATCH before it trades."""
    async with BinanceStandIn(make_candles(), balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(NOW_INDEX),
                              fee_rate=0.001, spread_bps=2,
                              rules=SymbolRules(default_stp_mode="EXPIRE_TAKER")) as running:
        yield running


def held_after(fills: list[Fill]) -> float:
    """What the entry's fills left on the account: the fee Binance took in BTC is not held."""
    return round(sum(f.quantity - f.base_fee for f in fills), 8)


def exits_of(engine: LiveExecution) -> list[tuple[str, float]]:
    return [(o.client_order_id, round(o.quantity, 8)) for o in engine.open_orders()]


async def test_an_exit_the_book_filled_in_part_books_its_part_and_the_rest_is_protected_and_sold_once(
        engine, standin):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    held = held_after([bought])                                     # 0.00999
    standin.advance_to(candle_ms(63))
    standin.partial_fill_next("0.4")            # the book holds 40% of it: the rest of the MARKET order expires
    [part] = await engine.on_candle(candle(62))                     # stop reached

    assert (part.client_order_id, part.quantity) == (f"{PREFIX}1-sl", 0.00399)
    assert standin.order_by_client_id(f"{PREFIX}1-sl").status == "EXPIRED"
    rest = round(held - part.quantity, 8)                           # 0.006
    assert exits_of(engine) == [(f"{PREFIX}1-sl2", rest), (f"{PREFIX}1-tp2", rest)]

    standin.advance_to(candle_ms(64))
    [sold] = await engine.on_candle(candle(63))                     # low 30515: the stop again, a new exit

    assert (sold.client_order_id, sold.quantity) == (f"{PREFIX}1-sl2", rest)
    assert [(o.client_order_id, o.status) for o in standin.orders] == [
        (f"{PREFIX}1", "FILLED"), (f"{PREFIX}1-sl", "EXPIRED"), (f"{PREFIX}1-sl2", "FILLED")]
    assert engine.open_orders() == [] and standin.balances["BTC"].free == 0     # all of it sold, once
    assert_ledger_matches([bought, part, sold], standin)
    assert list(await engine.on_candle(candle(64))) == []


async def test_an_exit_answered_with_a_5xx_and_found_expired_in_part_protects_its_rest(engine, standin):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))
    standin.advance_to(candle_ms(63))
    standin.partial_fill_next("0.5")
    standin.fail_after_processing_next("POST /api/v3/order")       # it trades and expires; the answer is a 503
    [part] = await engine.on_candle(candle(62))                     # found by its client order id at once

    assert (part.client_order_id, part.quantity) == (f"{PREFIX}1-sl", 0.00499)
    assert exits_of(engine) == [(f"{PREFIX}1-sl2", 0.005)]

    standin.advance_to(candle_ms(64))
    [sold] = await engine.on_candle(candle(63))

    assert (sold.client_order_id, sold.quantity) == (f"{PREFIX}1-sl2", 0.005)
    assert standin.order_submissions[f"{PREFIX}1-sl"] == 1 and standin.balances["BTC"].free == 0
    assert_ledger_matches([bought, part, sold], standin)


async def test_an_exit_that_sold_all_but_dust_leaves_no_exits_armed(engine, standin, log_records):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    standin.advance_to(candle_ms(63))
    standin.partial_fill_next("0.9999")          # all but one step (0.00001 BTC: under the 5 USDT minimum)
    [part] = await engine.on_candle(candle(62))

    assert part.quantity == 0.00998 and standin.order_by_client_id(f"{PREFIX}1-sl").status == "EXPIRED"
    assert engine.open_orders() == []
    assert not any("armed again" in m for m in warnings_in(log_records))
    assert_ledger_matches([bought, part], standin)


# -- self-trade prevention: nothing filled ---------------------------------------------------


async def test_an_exit_self_trade_prevention_expired_unfilled_gets_its_exits_back_under_new_ids(
        engine, account, standin):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    standin.advance_to(candle_ms(63))
    quote = standin.api.quote()
    inside = round(float(quote.bid + quote.ask) / 2, 2)
    # Another bot on the account bids inside the spread: the exit's sell meets it first.
    other = await account.client.create_order(SYMBOL, "limit", "buy", 0.001, inside,
                                              {"newClientOrderId": f"{OTHER_BOT}1"})
    assert await engine.on_candle(candle(62)) == []

    expired = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (expired.status, expired.executed_qty) == ("EXPIRED_IN_MATCH", 0)
    held = held_after([bought])
    assert exits_of(engine) == [(f"{PREFIX}1-sl2", held), (f"{PREFIX}1-tp2", held)]
    assert standin.order_by_client_id(f"{OTHER_BOT}1").status == "NEW"        # EXPIRE_TAKER leaves the maker

    await account.client.cancel_order(other["id"], SYMBOL)          # the other bot moves its bid away
    standin.advance_to(candle_ms(64))
    [sold] = await engine.on_candle(candle(63))

    assert (sold.client_order_id, sold.quantity) == (f"{PREFIX}1-sl2", held)
    assert standin.order_submissions[f"{PREFIX}1-sl"] == 1 and standin.balances["BTC"].free == 0
    assert_ledger_matches([bought, sold], standin)


# -- the runner takes the close over ---------------------------------------------------------


async def test_an_exit_that_never_landed_after_the_runner_took_the_close_over_does_not_say_close_it_by_hand(
        engine, standin, log_records):
    await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))
    standin.advance_to(candle_ms(63))
    standin.fail_next("POST /api/v3/order", status=503)             # not processed: it never lands
    assert await engine.on_candle(candle(62)) == []
    cancelled, _ = await engine.cancel_all()                        # a kill (or the strategy's exit) takes over
    assert [o.client_order_id for o in cancelled] == [f"{PREFIX}1-sl2"]

    standin.advance_to(candle_ms(64))
    assert list(await engine.on_candle(candle(63))) == []           # never landed: nothing armed, nothing sent

    assert engine.open_orders() == [] and [o.side for o in standin.orders] == ["BUY"]
    assert not any("close it by hand" in m for m in warnings_in(log_records))
    assert any(f"{PREFIX}1 is the runner's to close" in r["message"] for r in log_records)


async def test_a_kill_while_a_stop_exit_is_unknown_closes_the_position_once_it_never_landed_without_a_by_hand_warning(
        engine, standin, log_records):
    feed = QueuedFeed(SYMBOL)
    runner = StrategyRunner("live-bot", feed=feed, strategy=Scripted({0: GO_LONG}), execution=engine,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1, stop_loss_pct=0.002)),
                            portfolio=Portfolio(SYMBOL, 1_000.0), journal=MemoryJournal(), order_id_prefix=PREFIX)
    running = asyncio.create_task(runner.run())

    async def push(i: int) -> None:
        seen = runner.bars
        if i > NOW_INDEX:                                           # the entry at candle 60's quote
            standin.advance_to(candle_ms(i + 1))
        feed.queue.put_nowait(candle(i))
        await eventually(lambda: runner.bars > seen and not runner.busy and not engine.reconciling, 3.0,
                         poll_secs=0.01)

    try:
        await push(NOW_INDEX)                                       # buys; its stop-loss is armed
        await push(61)
        standin.fail_next("POST /api/v3/order", status=503)         # the stop's exit: never processed
        await push(62)
        assert [o.client_order_id for o in engine.open_orders()] == [f"{PREFIX}1-sl", f"{PREFIX}1-sl2"]

        await runner.kill_now("by hand")                            # waits for the exit's outcome
        for i in range(63, 70):                                     # past the grace: it never landed
            await push(i)
            if not runner.flatten_pending:
                break
    finally:
        running.cancel()

    assert runner.state is RunnerState.KILLED and not runner.flatten_pending
    assert [o.side for o in standin.orders] == ["BUY", "SELL"]      # the kill's flatten, once
    assert standin.orders[1].client_order_id.startswith(PREFIX) and "-sl" not in standin.orders[1].client_order_id
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert not any("close it by hand" in m for m in warnings_in(log_records))
