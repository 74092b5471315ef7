"""What a restarted paper or shadow bot's feed must hold for its session's flatten and its waiting
market orders to catch up on the candles missed while down (`runner.state.session_past_snapshot`,
`runner.state.limits_past_snapshot.waiting_market_orders`); the replay itself is
tests/unit/runner/test_limits_while_down.py's."""

from __future__ import annotations

from execution.models import Order, OrderType, Side, order_to_dict
from market.session import TradingSession
from runner.state.exits_past_snapshot import candles_past_snapshot
from runner.state.limits_past_snapshot import waiting_market_orders
from runner.state.session_past_snapshot import candles_to_flatten

MIN = 60_000
SYMBOL = "BTC/USDT"
# 00:00 to 00:10 UTC every day: the flatten point is 00:09 on 1m, 00:05 on 5m.
FLATTENS = TradingSession("UTC", 0, 10, range(7), flatten_at_close=True)


def state(last_candle_min: int, quantity: float) -> dict:
    return {"last_candle_ts_ms": last_candle_min * MIN, "portfolio": {"quantity": quantity}, "open_orders": []}


def test_a_position_held_past_a_missed_flatten_point_needs_every_candle_since_the_snapshot():
    # Snapshot after candle 3 (closed 00:04); at 00:20 the candles 4 to 19 closed, two more asked.
    assert candles_to_flatten(state(3, 1.0), [], FLATTENS, "1m", 20 * MIN) == 18
    # Down only until 00:09: the flatten point's candle (8) has closed just now.
    assert candles_to_flatten(state(3, 1.0), [], FLATTENS, "1m", 9 * MIN) == 7
    # On 5m the point is 00:05: the candle of 00:00 closes there.
    assert candles_to_flatten(state(-5, 1.0), [], FLATTENS, "5m", 5 * MIN) == 3


def test_no_candles_for_the_flatten_when_flat_before_the_point_or_without_the_rule():
    assert candles_to_flatten(state(3, 1.0), [], FLATTENS, "1m", 9 * MIN - 1) == 0        # not there yet
    assert candles_to_flatten(state(3, 0.0), [], FLATTENS, "1m", 20 * MIN) == 0           # nothing to close
    assert candles_to_flatten(state(3, 1.0), [{"position": 0.0}], FLATTENS, "1m", 20 * MIN) == 0
    assert candles_to_flatten(state(3, 0.0), [{"position": 2.0}], FLATTENS, "1m", 20 * MIN) == 18
    assert candles_to_flatten(state(3, 1.0), [], TradingSession("UTC", 0, 10, range(7)), "1m", 20 * MIN) == 0
    assert candles_to_flatten(state(3, 1.0), [], None, "1m", 20 * MIN) == 0
    assert candles_to_flatten(None, [], FLATTENS, "1m", 20 * MIN) == 0


def test_a_position_held_out_of_the_hours_at_the_snapshot_is_closed_at_the_first_missed_candle():
    # The snapshot's last candle closed at 00:12, out of the hours (a flatten that could not be sent).
    assert candles_to_flatten(state(11, 1.0), [], FLATTENS, "1m", 13 * MIN) == 3


def test_the_waiting_market_orders_are_the_snapshots_and_the_journals_with_no_fill_nor_cancel():
    def market(order_id: str, decided_min: int) -> Order:
        return Order(order_id, SYMBOL, Side.BUY, OrderType.MARKET, quantity=1.0, created_ts_ms=decided_min * MIN)

    kept, cancelled = market("b-1", 4), market("b-2", 4)
    stop = Order("e-1-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=96.0, oco_group="e-1")
    limit = Order("b-3", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0, created_ts_ms=4 * MIN)
    snapshot = {**state(3, 0.0), "open_orders": [order_to_dict(o) for o in (kept, cancelled, stop, limit)]}
    placed, filled = market("b-4", 8), market("b-5", 8)

    waiting = waiting_market_orders(snapshot, [order_to_dict(o) for o in (placed, filled)], [{"order_id": "b-5"}],
                                    {"b-2": "exit signal"})

    assert waiting == [kept, placed]
    # The feed gives every candle from the one after the snapshot's last, or from the one after
    # the candle an order was decided on (placed at 00:08: candle 8 on), whichever came later.
    assert candles_past_snapshot(snapshot, "1m", 20 * MIN, (), waiting) == 18
    assert candles_past_snapshot(None, "1m", 20 * MIN, (), [placed]) == 14
