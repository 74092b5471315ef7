"""The runner's replay of a paper bot's resting limit orders over the candles it missed
(`runner.bot.limits_while_down`), on a paper engine that reads no quote: the cases the daemon
tests over the stand-in (tests/integration/test_paper_limits_while_down.py) do not reach."""

from __future__ import annotations

from execution.models import Order, OrderType, Side
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
