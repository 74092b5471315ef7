"""The entries a restarted bot follows again: which a live bot looks up and how far back the feed
must reach for their exits (`runner.state.exits_past_snapshot`), the first candle those exits
see once the lookup finds the entry done (`TrackedOrder.first_candle_of_exits`), and a sim
engine (a shadow bot's) leaving out an intent whose fill is booked."""

from __future__ import annotations

from execution.models import Fill, Order, OrderType, Side, fill_to_dict, order_to_dict
from execution.sim import SimExecution
from execution.tracked_order import OrderState, TrackedOrder
from market.models import Candle
from runner.state.exits_past_snapshot import candles_past_snapshot, entries_to_look_up, exits_of_entries_past_snapshot

MIN = 60_000


def entry(order_id: str, type_=OrderType.LIMIT, *, created_ts_ms=5 * MIN, **exits) -> Order:
    exits = {"trailing_stop_pct": 0.1} if not exits else {k: v for k, v in exits.items() if v is not None}
    return Order(order_id, "BTC/USD", Side.BUY, type_, quantity=1.0, price=100.0 if type_ is OrderType.LIMIT else None,
                 created_ts_ms=created_ts_ms, **exits)


def test_a_live_bot_looks_up_the_snapshots_resting_entries_and_the_intents_past_it_that_ask_for_exits():
    resting, cancelled, plain = entry("e-1"), entry("e-2"), entry("e-3", trailing_stop_pct=None, stop_loss_pct=None)
    stop = Order("e-0-ts", "BTC/USD", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0, oco_group="e-0")
    state = {"last_candle_ts_ms": 9 * MIN, "open_orders": [order_to_dict(o) for o in (resting, cancelled, plain, stop)]}
    lost_answer = entry("e-4", OrderType.MARKET, created_ts_ms=12 * MIN)
    journalled = entry("e-5", OrderType.MARKET, created_ts_ms=13 * MIN)
    fills = [fill_to_dict(Fill("e-5", "BTC/USD", Side.BUY, 1.0, 100.0, 0.0, 13 * MIN + 50, fill_id="t1"))]
    to_arm = exits_of_entries_past_snapshot([order_to_dict(journalled)], fills, {})      # armed from the journal

    looked_up = entries_to_look_up(state, [order_to_dict(o) for o in (lost_answer, journalled)], to_arm,
                                   {"e-2": "exit signal"})

    assert [o.client_order_id for o in looked_up] == ["e-1", "e-4"]
    assert entries_to_look_up(None, [order_to_dict(lost_answer)], [], {}) == [lost_answer]


def test_the_feed_gives_the_candles_since_the_snapshot_or_since_an_entry_looked_up_was_decided():
    flat_snapshot = {"last_candle_ts_ms": 9 * MIN, "open_orders": []}
    resting = entry("e-1", created_ts_ms=4 * MIN)
    assert candles_past_snapshot(flat_snapshot, "1m", 12 * MIN) == 0
    assert candles_past_snapshot(flat_snapshot, "1m", 12 * MIN, (), [resting]) == 4      # 10, 11 and two more
    # No snapshot: from the candle after the close it was decided on (10 min).
    lost_answer = entry("e-4", OrderType.MARKET, created_ts_ms=10 * MIN)
    assert candles_past_snapshot(None, "1m", 12 * MIN, (), [lost_answer]) == 4


def tracked(order: Order, *fill_times_ms: int) -> TrackedOrder:
    followed = TrackedOrder(order, OrderState.OPEN)
    for i, ts_ms in enumerate(fill_times_ms):
        followed.count(Fill(order.client_order_id, "BTC/USD", Side.BUY, 0.5, 100.0, 0.0, ts_ms, fill_id=f"t{i}"))
    return followed


def test_a_market_entrys_exits_see_the_candle_it_filled_in_a_resting_limits_the_next_one():
    assert tracked(entry("e-1", OrderType.MARKET), 5 * MIN + 40, 5 * MIN + 90).first_candle_of_exits(MIN) == 5 * MIN
    # A limit filled within candle 7: its range holds prices from before the fill.
    assert tracked(entry("e-2"), 6 * MIN + 10, 7 * MIN + 30_000).first_candle_of_exits(MIN) == 8 * MIN
    assert tracked(entry("e-3"), 7 * MIN).first_candle_of_exits(MIN) == 7 * MIN     # at a candle's open
    # An exchange clock behind the bot's: never a candle that closed before the entry was decided.
    assert tracked(entry("e-4", OrderType.MARKET), 5 * MIN - 40).first_candle_of_exits(MIN) == 5 * MIN


async def test_a_sim_engine_does_not_follow_again_an_order_whose_fill_is_booked():
    sim = SimExecution(fee_rate=0.0)
    filled, pending = entry("e-1", OrderType.MARKET), entry("e-2", OrderType.MARKET)

    sim.restore_orders([filled, pending], fill_ids={"e-1"})

    assert sim.open_orders() == [pending]
    assert [f.client_order_id for f in await sim.on_candle(Candle(6 * MIN, 100, 101, 99, 100, 1.0))] == ["e-2"]


def test_a_sim_engine_drops_a_resting_order_of_the_snapshot_whose_fill_is_booked_past_it():
    sim = SimExecution(fee_rate=0.0)
    sim.restore_orders([entry("e-1"), entry("e-2")])                  # the snapshot's

    sim.restore_orders([], fill_ids={"e-1"})                           # then the journal's fills

    assert [o.client_order_id for o in sim.open_orders()] == ["e-2"]
