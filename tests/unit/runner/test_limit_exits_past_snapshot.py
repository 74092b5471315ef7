"""A restarted paper (or shadow) bot's limit entry whose fill the journal holds past the snapshot
(filled, then a crash before the next snapshot): its protective exits are armed from that fill as
the engine armed them, and see the candles from the one it did on
(`runner.state.limits_past_snapshot.exits_of_limit_entries_filled`). Before, the entry, filled,
was not followed again and its exits were in no snapshot: the position came back unprotected."""

from __future__ import annotations

from execution.models import Order, OrderType, Side, fill_to_dict, order_to_dict
from execution.sim import SimExecution
from market.models import Candle
from runner.state.exits_past_snapshot import exits_of_entries_past_snapshot
from runner.state.limits_past_snapshot import exits_of_limit_entries_filled

MIN = 60_000


def bid(order_id="e-1", **exits) -> Order:
    return Order(order_id, "BTC/USD", Side.BUY, OrderType.LIMIT, quantity=2.0, price=95.0, created_ts_ms=2 * MIN,
                 **exits)


def snapshot_with(*orders: Order) -> dict:
    return {"open_orders": [order_to_dict(o) for o in orders], "last_candle_ts_ms": MIN}


async def filled_by(entry: Order, candle: Candle):
    """The fill and the exits sim makes of `entry` on `candle` (its exits as they stand after it)."""
    sim = SimExecution(fee_rate=0.001)
    sim.restore_orders([entry])
    [fill] = await sim.on_candle(candle)
    return fill, sim.open_orders()


async def test_a_limit_entry_filled_at_its_price_gets_the_exits_sim_armed_from_the_candle_after_its_fill():
    entry = bid(stop_loss_pct=0.02, take_profit_pct=0.05, trailing_stop_pct=0.03)
    fill, engines = await filled_by(entry, Candle(4 * MIN, 100.0, 101.0, 94.0, 96.0, 1.0))
    [armed] = exits_of_limit_entries_filled(snapshot_with(entry), [], [fill_to_dict(fill)], {})
    assert (armed.entry, armed.exits) == (entry, engines)
    assert armed.first_candle_ms(MIN) == 5 * MIN


async def test_a_limit_entry_the_candle_opened_beyond_gets_exits_that_see_that_candle_too():
    entry = bid(stop_loss_pct=0.02)
    fill, engines = await filled_by(entry, Candle(4 * MIN, 93.0, 94.0, 93.0, 93.5, 1.0))
    [armed] = exits_of_limit_entries_filled(snapshot_with(), [order_to_dict(entry)], [fill_to_dict(fill)], {})
    assert (fill.price, armed.exits) == (93.0, engines)
    assert armed.first_candle_ms(MIN) == 4 * MIN


async def test_no_exits_for_a_limit_entry_resting_asking_for_none_or_whose_exits_were_replaced_nor_by_lives_rule():
    asks, plain = bid("e-1", stop_loss_pct=0.02), bid("e-2")
    fill, _ = await filled_by(asks, Candle(4 * MIN, 100.0, 101.0, 94.0, 96.0, 1.0))
    plain_fill, _ = await filled_by(plain, Candle(4 * MIN, 100.0, 101.0, 94.0, 96.0, 1.0))
    state = snapshot_with(asks, plain)
    assert exits_of_limit_entries_filled(state, [], [], {}) == []                          # resting still
    assert exits_of_limit_entries_filled(state, [], [fill_to_dict(plain_fill)], {}) == []   # asks for none
    # Its exits replaced by an exit signal past the snapshot (cancelled): nothing to protect.
    assert exits_of_limit_entries_filled(state, [], [fill_to_dict(fill)], {"e-1-sl": "replaced by an exit"}) == []
    # Live's rule (market entries only): a limit entry may rest in part; it is looked up instead.
    assert exits_of_entries_past_snapshot(state["open_orders"], [fill_to_dict(fill)], {}) == []
