"""PaperExecution.catch_up_resting: a candle the bot missed, through its resting limit orders and
protective exits as `on_candle` would have put it live (the runner's side and the daemon over the
stand-in: tests/integration/test_paper_limits_while_down.py); and the restart's reading of which
limit orders rest (`runner.state.limits_past_snapshot`)."""

from __future__ import annotations

from execution.models import Order, OrderType, Side, order_to_dict
from execution.paper import PaperExecution
from market.models import Candle
from runner.state.exits_past_snapshot import candles_past_snapshot
from runner.state.limits_past_snapshot import resting_limit_orders

MIN = 60_000
SYMBOL = "BTC/USD"


class NoQuotes:
    """A replay reads no quote: the candles say it all."""

    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        raise AssertionError("a missed candle's fills are read from the candle, not the live quote")


def bar(ts_ms: int, o: float, h: float, low: float, c: float) -> Candle:
    return Candle(ts_ms, o, h, low, c, 1.0)


def bid(order_id: str, price: float, decided_ms: int) -> Order:
    return Order(order_id, SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=price, created_ts_ms=decided_ms)


def engine_with(*orders: Order) -> PaperExecution:
    engine = PaperExecution(NoQuotes(), SYMBOL, fee_rate=0.0, now_ms=lambda: 99 * MIN)
    engine.restore_orders(list(orders))
    return engine


async def test_a_limit_order_fills_at_the_missed_candle_that_reached_it_with_its_time_and_no_quote():
    engine = engine_with(bid("b-1", 95.0, decided_ms=MIN))

    assert await engine.catch_up_resting(bar(MIN, 100, 101, 96, 100)) == []
    [fill] = await engine.catch_up_resting(bar(2 * MIN, 97, 98, 90, 92))

    assert (fill.client_order_id, fill.fill_id, fill.price, fill.ts_ms) == ("b-1", "b-1", 95.0, 2 * MIN)
    assert engine.open_orders() == []


async def test_a_limit_order_sees_no_candle_that_opened_before_it_was_decided_and_rests_on():
    engine = engine_with(bid("b-1", 95.0, decided_ms=2 * MIN))

    assert await engine.catch_up_resting(bar(MIN, 100, 101, 90, 100)) == []        # reached it, before it was placed

    assert [o.client_order_id for o in engine.open_orders()] == ["b-1"]
    [fill] = await engine.catch_up_resting(bar(2 * MIN, 100, 101, 94, 100))
    assert (fill.price, fill.ts_ms) == (95.0, 2 * MIN)


async def test_exits_beside_a_limit_order_see_the_candles_from_their_start_on_and_a_stop_fills_first():
    stop = Order("e-1-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=96.0, oco_group="e-1")
    late = Order("e-2-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=96.0, oco_group="e-2")
    engine = engine_with(bid("b-1", 95.0, decided_ms=0), stop, late)

    fills = await engine.catch_up_resting(bar(MIN, 100, 101, 94, 100), from_ms={"e-2": 2 * MIN})

    assert [(f.client_order_id, f.price) for f in fills] == [("e-1-sl", 96.0), ("b-1", 95.0)]
    assert [o.client_order_id for o in engine.open_orders()] == ["e-2-sl"]          # from its start on
    [fill] = await engine.catch_up_resting(bar(2 * MIN, 100, 101, 94, 100), from_ms={"e-2": 2 * MIN})
    assert fill.client_order_id == "e-2-sl"


def test_the_limit_orders_resting_at_a_restart_are_the_snapshots_and_the_journals_not_filled_nor_cancelled():
    kept, cancelled = bid("b-1", 95.0, MIN), bid("b-2", 94.0, MIN)
    stop = Order("e-1-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=96.0, oco_group="e-1")
    state = {"last_candle_ts_ms": 4 * MIN, "open_orders": [order_to_dict(o) for o in (kept, cancelled, stop)]}
    placed, filled = bid("b-3", 93.0, 8 * MIN), bid("b-4", 92.0, 8 * MIN)
    market = Order("b-5", SYMBOL, Side.BUY, OrderType.MARKET, quantity=1.0, created_ts_ms=9 * MIN)

    resting = resting_limit_orders(state, [order_to_dict(o) for o in (placed, filled, market)],
                                   [{"order_id": "b-4"}], {"b-2": "exit signal"})

    assert resting == [kept, placed]
    # The feed gives every candle after the snapshot's last (and two more), whichever order came later.
    assert candles_past_snapshot(state, "1m", 20 * MIN, (), resting) == 17
    assert candles_past_snapshot(None, "1m", 20 * MIN, (), [placed]) == 14           # from candle 7 on


async def test_a_missed_candle_quoted_fills_a_market_order_at_its_close_and_time_moved_by_slippage():
    engine = PaperExecution(NoQuotes(), SYMBOL, fee_rate=0.0, slippage_bps=10, now_ms=lambda: 99 * MIN)
    engine.quote_missed_candle(bar(MIN, 100, 101, 96, 98), 2 * MIN)

    [fill] = await engine.execute_signal(Order("s-1", SYMBOL, Side.SELL, OrderType.MARKET, quantity=1.0))

    assert (fill.price, fill.ts_ms) == (98 * (1 - 0.001), 2 * MIN)
