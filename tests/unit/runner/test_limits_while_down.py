"""The runner's replay of a paper bot's resting limit orders, waiting market orders and session
close over the candles it missed (`runner.bot.limits_while_down`), on a paper engine that reads no
quote: the cases the daemon tests over the stand-in (tests/integration/test_paper_limits_while_down.py,
test_paper_closes_while_down.py) do not reach."""

from __future__ import annotations

import pytest

from execution.models import Fill, Order, OrderType, Side
from execution.paper import PaperExecution
from market.models import Candle
from market.session import TradingSession
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.strategy_runner import StrategyRunner
from runner.state.journal import MemoryJournal
from tests.fakes import QueuedFeed, Scripted

MIN = 60_000
SYMBOL = "BTC/USDT"


class NoQuotes:
    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        raise AssertionError("a missed candle's fills are read from the candle, not the live quote")


def paper_runner(*resting: Order, session: TradingSession | None = None) -> StrategyRunner:
    engine = PaperExecution(NoQuotes(), SYMBOL, fee_rate=0.0, now_ms=lambda: 0)
    runner = StrategyRunner("down-bot", feed=QueuedFeed(SYMBOL), strategy=Scripted({}), execution=engine,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1)),
                            portfolio=Portfolio(SYMBOL, 1_000.0), journal=MemoryJournal(), order_id_prefix="d-",
                            session=session)
    runner.restore_orders(list(resting))
    return runner


def dip(ts_ms: int) -> Candle:
    return Candle(ts_ms, 100.0, 101.0, 90.0, 100.0, 1.0)


async def test_an_order_due_before_the_first_missed_candle_expires_before_it_and_never_fills():
    # Its expiry (the close at 5 min) is before the first candle the catch-up holds (10 min on):
    # its cancel was lost in a crash, or the downtime ran past the catch-up's cap.
    bid = Order("d-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0, created_ts_ms=MIN,
                expire_ts_ms=5 * MIN)
    runner = paper_runner(bid)

    await runner.catch_up_exits([dip(10 * MIN), dip(11 * MIN)])

    assert runner.journal.of_kind("fill") == []
    [cancel] = runner.journal.of_kind("cancel")
    assert (cancel.data, cancel.ts_ms) == ({"order_id": "d-1", "why": "expired"}, 10 * MIN)
    assert runner.execution.open_orders() == [] and runner.portfolio.quantity == 0


async def test_an_order_due_at_a_missed_close_fills_on_that_candle_and_expires_after_it():
    bid = Order("d-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0, created_ts_ms=MIN,
                expire_ts_ms=11 * MIN)
    runner = paper_runner(bid)

    await runner.catch_up_exits([Candle(9 * MIN, 100.0, 101.0, 99.0, 100.0, 1.0), dip(10 * MIN), dip(11 * MIN)])

    [fill] = runner.journal.of_kind("fill")
    assert (fill.data["order_id"], fill.data["fill_ts_ms"], fill.ts_ms) == ("d-1", 10 * MIN, 11 * MIN)
    assert runner.journal.of_kind("cancel") == []
    assert runner.portfolio.quantity == 1.0


async def test_a_resting_entry_of_a_bot_with_trading_hours_is_cancelled_at_the_first_missed_close_outside_them():
    # Hours 00:00 to 00:10 UTC: the candle closing at 00:10 is the first outside; the dip at
    # 00:12 would have filled an entry the bot running through would have cancelled by then.
    bid = Order("d-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0, created_ts_ms=2 * MIN)
    runner = paper_runner(bid, session=TradingSession("UTC", 0, 10, range(7)))
    flat = [Candle(i * MIN, 100.0, 101.0, 99.0, 100.0, 1.0) for i in range(5, 12)]

    await runner.catch_up_exits([*flat, dip(12 * MIN)])

    assert runner.journal.of_kind("fill") == []
    [cancel] = runner.journal.of_kind("cancel")
    assert (cancel.data, cancel.ts_ms) == ({"order_id": "d-1", "why": "no entry outside the session"}, 10 * MIN)


def bar(ts_ms: int, close: float, low: float = 99.0) -> Candle:
    return Candle(ts_ms, 100.0, 101.0, low, close, 1.0)


async def test_a_position_held_across_the_sessions_close_is_flattened_at_the_flatten_candles_close():
    # Hours 00:00 to 00:10 UTC with flatten_at_close: the flatten is decided at 00:09, the close of
    # candle 8, at its close of 100.5; the dip at 00:12 reaches the stop, which a bot that ran
    # through had cancelled by then (before: the stop sold at 95 there, and the flatten waited).
    stop = Order("d-1-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=95.0, oco_group="d-1")
    runner = paper_runner(stop, session=TradingSession("UTC", 0, 10, range(7), flatten_at_close=True))
    runner.book_journalled_fills([Fill("d-1", SYMBOL, Side.BUY, 1.0, 100.0, 0.0, 2 * MIN)])

    await runner.catch_up_exits([bar(i * MIN, 100.5 if i == 8 else 100.0, low=90.0 if i == 12 else 99.0)
                                 for i in range(5, 14)])

    [fill] = runner.journal.of_kind("fill")
    assert (fill.data["reason"], fill.data["side"], fill.data["price"], fill.data["fill_ts_ms"], fill.ts_ms) == (
        "session close", "sell", 100.5, 9 * MIN, 9 * MIN)
    [cancel] = runner.journal.of_kind("cancel")
    assert (cancel.data, cancel.ts_ms) == ({"order_id": "d-1-sl", "why": "session close"}, 9 * MIN)
    assert runner.portfolio.quantity == 0.0 and runner.execution.open_orders() == []


async def test_a_waiting_market_order_fills_at_the_close_of_the_first_missed_candle_opened_after_it_only():
    # Decided at 00:07 (candle 6's close), no quote: `on_candle` would have tried again at candle
    # 7's close. Candles 5 and 6 opened before it was placed.
    waiting = Order("d-1", SYMBOL, Side.BUY, OrderType.MARKET, quantity=1.0, created_ts_ms=7 * MIN)
    runner = paper_runner(waiting)

    await runner.catch_up_exits([bar(i * MIN, 100.0 + i) for i in range(5, 10)])

    [fill] = runner.journal.of_kind("fill")
    assert (fill.data["order_id"], fill.data["price"], fill.data["fill_ts_ms"], fill.ts_ms) == (
        "d-1", 107.0, 8 * MIN, 8 * MIN)
    assert runner.portfolio.quantity == 1.0 and runner.execution.open_orders() == []
    with pytest.raises(AssertionError, match="live quote"):     # the missed candles are done: live quotes again
        await runner.execution.execute_signal(Order("d-2", SYMBOL, Side.SELL, OrderType.MARKET, quantity=1.0))
