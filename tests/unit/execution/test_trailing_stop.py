"""The trailing stop on crafted candles: sim's fills, the shared rule, live's bot-managed exit.

The rule (see `execution.protective`): for a long, level = H * (1 - pct) (or H - distance), H the
highest price since the entry filled, starting at the fill price. Each candle is checked against
the level as it stood before the candle; only then does its high raise H.
"""

from __future__ import annotations

import json

import pytest

from execution.live import LiveExecution
from execution.models import Order, OrderType, Side, order_from_dict, order_to_dict
from execution.order_ids import protective_id, protective_kind
from execution.paper import PaperExecution
from execution.protective import ProtectiveExits, is_trailing_stop, trailed
from execution.sim import SimExecution
from market.models import Candle
# The Binance stand-in's fixtures and market, for the live engine's trailing stop below. Named
# one by one: importing the module's tests too would collect them twice.
from tests.standin_exchange import account, accounts, clock, standin
from tests.integration.test_live_execution import (
    PREFIX, SYMBOL, assert_ledger_matches, buy, candle as standin_candle, candle_ms,
)

__all__ = ["account", "accounts", "clock", "standin"]      # fixtures: pytest finds them by these names


def bar(o, h, l, c, ts=0):
    return Candle(ts, o, h, l, c, 1.0)


def market_buy(order_id="e-1", amount=1_000.0, **extra):
    return Order(order_id, "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=amount, **extra)


def trailing_level(engine: SimExecution | PaperExecution) -> float:
    [order] = [o for o in engine.open_orders() if is_trailing_stop(o)]
    return order.stop_price


async def entered(sim: SimExecution, entry_bar=(100.0, 100.0, 100.0, 100.0), **extra) -> None:
    """`sim` long from an entry filled at the open of `entry_bar` (100 by default)."""
    await sim.execute_signal(market_buy(**extra))
    [fill] = await sim.on_candle(bar(*entry_bar))
    assert fill.reason == ""


# -- the order and its id ----------------------------------------------------------------------


def test_an_order_takes_at_most_one_of_the_two_trailing_fields():
    with pytest.raises(ValueError, match="at most one of trailing_stop_pct and trailing_stop_distance"):
        market_buy(trailing_stop_pct=0.05, trailing_stop_distance=100.0)


@pytest.mark.parametrize("fields", [{"trailing_stop_pct": 1.0}, {"trailing_stop_pct": 0.0},
                                    {"trailing_stop_pct": float("nan")}, {"trailing_stop_distance": -5.0},
                                    {"trailing_stop_distance": float("inf")}])
def test_a_trailing_setting_outside_its_range_is_refused(fields):
    with pytest.raises(ValueError, match="trailing_stop"):
        market_buy(**fields)


@pytest.mark.parametrize("fields", [{"trailing_stop_pct": 0.03}, {"trailing_stop_distance": 250.0}])
def test_the_trailing_fields_come_back_from_the_journal_dict(fields):
    order = market_buy(**fields)
    assert order_from_dict(json.loads(json.dumps(order_to_dict(order)))) == order


def test_an_order_without_a_trailing_stop_encodes_as_before_and_an_old_dict_still_loads():
    # The journal compares a re-made order's dict with the journalled one, text for text.
    data = order_to_dict(market_buy(stop_loss_pct=0.05))
    assert "trailing_stop_pct" not in data and "trailing_stop_distance" not in data
    loaded = order_from_dict(data)
    assert (loaded.trailing_stop_pct, loaded.trailing_stop_distance) == (None, None)


def test_the_trailing_stop_has_its_own_protective_id_kind():
    assert protective_id("br1-7", "ts") == "br1-7-ts"
    assert protective_kind("br1-7-ts", "br1-7") == "ts"
    assert protective_kind("br1-7-ts", "br1-8") is None


# -- sim: the rule on crafted candles ----------------------------------------------------------


async def test_the_stop_starts_off_the_fill_price_and_only_rises_with_later_highs():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, trailing_stop_pct=0.1)                  # filled at 100; H = 100 after its candle
    assert trailing_level(sim) == pytest.approx(90.0)
    levels = []
    for o, h, l, c in [(100, 120, 99, 115), (115, 118, 109, 110), (110, 125, 113, 124), (124, 124, 113, 114)]:
        assert await sim.on_candle(bar(o, h, l, c)) == []
        levels.append(trailing_level(sim))
    # 120 lifts it to 108; 118 leaves it; 125 lifts it to 112.5; a lower high never lowers it.
    assert levels == pytest.approx([108.0, 108.0, 112.5, 112.5])
    [order] = sim.open_orders()
    assert (order.client_order_id, order.type, order.side, order.oco_group, order.reason) == (
        "e-1-ts", OrderType.STOP, Side.SELL, "e-1", "trailing_stop")


async def test_a_candle_reaching_the_level_fills_at_the_level_and_exactly_at_it_counts():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, trailing_stop_pct=0.1)
    await sim.on_candle(bar(100, 120, 99, 115))                 # level 108
    [stop] = await sim.on_candle(bar(112, 113, 108.0, 110))     # low exactly at 108
    assert (stop.client_order_id, stop.price, stop.reason, stop.side) == ("e-1-ts", 108.0, "trailing_stop", Side.SELL)
    assert sim.open_orders() == []


async def test_a_low_just_above_the_level_does_not_fill():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, trailing_stop_pct=0.1)
    await sim.on_candle(bar(100, 120, 99, 115))                 # level 108
    assert await sim.on_candle(bar(112, 113, 108.01, 110)) == []


async def test_a_gap_through_the_level_fills_at_the_open_and_slippage_works_as_on_a_stop_loss():
    sim = SimExecution(fee_rate=0.0, slippage_bps=10)
    await entered(sim, trailing_stop_pct=0.1)                   # filled at 100.1: level 90.09
    await sim.on_candle(bar(100, 120, 99, 115))                 # level 108
    [stop] = await sim.on_candle(bar(100, 101, 97, 99))         # opens below 108
    assert stop.price == pytest.approx(100 * 0.999)

    sim = SimExecution(fee_rate=0.0, slippage_bps=10)
    await entered(sim, trailing_stop_pct=0.1)
    await sim.on_candle(bar(100, 120, 99, 115))
    [stop] = await sim.on_candle(bar(110, 111, 105, 106))       # trades down through it
    assert stop.price == pytest.approx(108 * 0.999)


async def test_a_candles_own_high_does_not_move_the_stop_its_low_then_hits():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, trailing_stop_pct=0.1)                   # level 90
    # Had the high of 130 come first, the level would be 117 and the low of 95 would reach it;
    # the candle does not say, so the level it is checked against is 90's.
    assert await sim.on_candle(bar(100, 130, 95, 120)) == []
    assert trailing_level(sim) == pytest.approx(117.0)          # the high moves it for the next candle
    [stop] = await sim.on_candle(bar(118, 119, 116, 117))
    assert stop.price == pytest.approx(117.0)


async def test_the_entry_candle_is_checked_against_the_level_off_the_fill_then_trails():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(market_buy(trailing_stop_pct=0.1))
    entry, stop = await sim.on_candle(bar(100, 101, 89, 95))     # opens at 100, falls through 90
    assert (entry.price, stop.price, stop.reason) == (100.0, 90.0, "trailing_stop")

    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(market_buy(trailing_stop_pct=0.1))
    [entry] = await sim.on_candle(bar(100, 120, 91, 118))        # 91 is above 90; 120 then lifts it
    assert trailing_level(sim) == pytest.approx(108.0)


async def test_a_distance_trails_by_an_absolute_price():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, trailing_stop_distance=7.5)
    assert trailing_level(sim) == 92.5
    await sim.on_candle(bar(100, 110, 99, 109))
    assert trailing_level(sim) == 102.5
    [stop] = await sim.on_candle(bar(105, 106, 102, 103))
    assert stop.price == 102.5


async def test_of_a_fixed_and_a_trailing_stop_both_reached_the_higher_fills():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, stop_loss_pct=0.05, take_profit_pct=0.5, trailing_stop_pct=0.1)
    await sim.on_candle(bar(100, 120, 99, 115))                 # trailing 108 above the fixed 95
    [stop] = await sim.on_candle(bar(110, 111, 90, 92))          # reaches both
    assert (stop.client_order_id, stop.price) == ("e-1-ts", 108.0)
    assert sim.open_orders() == []                              # the fixed stop and the target went with it

    sim = SimExecution(fee_rate=0.0)
    await entered(sim, stop_loss_pct=0.05, trailing_stop_pct=0.2)
    await sim.on_candle(bar(100, 105, 99, 104))                 # trailing 84, under the fixed 95
    [stop] = await sim.on_candle(bar(100, 101, 80, 82))
    assert (stop.client_order_id, stop.price) == ("e-1-sl", 95.0)
    assert sim.open_orders() == []


async def test_a_take_profit_on_the_candle_that_reaches_the_trailing_stop_loses_to_the_stop():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, take_profit_pct=0.1, trailing_stop_pct=0.1)   # target 110, stop 90
    [stop] = await sim.on_candle(bar(100, 115, 85, 100))
    assert (stop.client_order_id, stop.price) == ("e-1-ts", 90.0)


async def test_a_take_profit_reached_first_cancels_the_trailing_stop():
    sim = SimExecution(fee_rate=0.0)
    await entered(sim, take_profit_pct=0.1, trailing_stop_pct=0.1)
    [target] = await sim.on_candle(bar(100, 112, 99, 111))
    assert (target.client_order_id, target.price) == ("e-1-tp", pytest.approx(110.0))
    assert sim.open_orders() == []


async def test_a_short_entry_trails_the_lowest_price_mirrored():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(Order("e-1", "BTC/USD", Side.SELL, quantity=1.0, trailing_stop_pct=0.1))
    await sim.on_candle(bar(100, 100, 100, 100))
    assert trailing_level(sim) == pytest.approx(110.0)
    assert await sim.on_candle(bar(100, 105, 80, 82)) == []     # 80 lowers it to 88, for the next candle
    assert trailing_level(sim) == pytest.approx(88.0)
    [stop] = await sim.on_candle(bar(85, 89, 84, 88))
    assert (stop.side, stop.price) == (Side.BUY, pytest.approx(88.0))


async def test_the_trailed_level_survives_a_snapshot_and_restore():
    before = SimExecution(fee_rate=0.0)
    await entered(before, stop_loss_pct=0.05, trailing_stop_pct=0.1)
    await before.on_candle(bar(100, 120, 99, 115))              # level 108
    snapshot = json.loads(json.dumps([order_to_dict(o) for o in before.open_orders()]))

    after = SimExecution(fee_rate=0.0)                          # a restart
    after.restore_orders([order_from_dict(o) for o in snapshot])
    assert after.open_orders() == before.open_orders()
    assert trailing_level(after) == pytest.approx(108.0)
    await after.on_candle(bar(115, 130, 118, 128))              # it goes on trailing: 117
    [stop] = await after.on_candle(bar(120, 121, 100, 101))     # and the higher stop wins
    assert (stop.client_order_id, stop.price) == ("e-1-ts", pytest.approx(117.0))


async def test_a_sim_without_a_trailing_stop_checks_stops_in_the_order_they_were_placed():
    # Unchanged behaviour: two independent sell stops reached by one candle fill in placement order.
    sim = SimExecution(fee_rate=0.0)
    for order_id, level in [("a", 90.0), ("b", 95.0)]:
        await sim.execute_signal(Order(order_id, "BTC/USD", Side.SELL, OrderType.STOP, quantity=1.0,
                                       stop_price=level))
    fills = await sim.on_candle(bar(100, 100, 80, 85))
    assert [f.client_order_id for f in fills] == ["a", "b"]


class FixedQuote:
    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        return 99.8, 100.0


async def test_paper_rests_the_trailing_stop_off_its_fill_and_trails_closed_candles_by_sims_rule():
    engine = PaperExecution(FixedQuote(), "BTC/USD", fee_rate=0.0, now_ms=lambda: 30_000)
    [entry] = await engine.execute_signal(market_buy(trailing_stop_pct=0.1))     # at the ask, 100
    assert trailing_level(engine) == pytest.approx(90.0)
    assert await engine.on_candle(bar(100, 130, 95, 120, ts=60_000)) == []
    [ts] = engine.open_orders()
    assert ts.stop_price == pytest.approx(117.0)

    restarted = PaperExecution(FixedQuote(), "BTC/USD", fee_rate=0.0, now_ms=lambda: 90_000)
    restarted.restore_orders([order_from_dict(order_to_dict(o)) for o in engine.open_orders()])
    [stop] = await restarted.on_candle(bar(118, 119, 116, 117, ts=120_000))
    assert (stop.client_order_id, stop.price, stop.fill_id) == ("e-1-ts", pytest.approx(117.0), "e-1-ts")
    assert stop.quantity == pytest.approx(entry.quantity)


# -- the shared rule and live's bot-managed exits ------------------------------------------------


def test_trailed_moves_a_sell_stop_up_only_and_a_buy_stop_down_only():
    sell_stop = Order("e-ts", "X", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0, oco_group="e",
                      trailing_stop_pct=0.1)
    assert trailed(sell_stop, bar(100, 99, 95, 96)) is sell_stop
    assert trailed(sell_stop, bar(100, 110, 95, 96)).stop_price == pytest.approx(99.0)
    buy_stop = Order("e-ts", "X", Side.BUY, OrderType.STOP, quantity=1.0, stop_price=110.0, oco_group="e",
                     trailing_stop_distance=5.0)
    assert trailed(buy_stop, bar(100, 120, 106, 110)) is buy_stop
    assert trailed(buy_stop, bar(100, 120, 95, 110)).stop_price == 100.0


def test_protective_exits_trail_closed_candles_and_reach_the_level_as_it_stood_before_the_candle():
    exits = ProtectiveExits("BTC/USD")
    entry = market_buy(stop_loss_pct=0.05, trailing_stop_pct=0.1)
    exits.arm(entry, filled_qty=10.0, notional=1_000.0, base_fees=0.01, ts_ms=0)
    ts = next(o for o in exits.orders() if o.reason == "trailing_stop")
    assert (ts.client_order_id, ts.stop_price, ts.quantity) == ("e-1-ts", pytest.approx(90.0), pytest.approx(9.99))

    assert exits.take_reached(bar(100, 130, 96, 120), among=exits.orders()) == []     # 96: above 95, under 117
    assert next(o for o in exits.orders() if o.reason == "trailing_stop").stop_price == pytest.approx(117.0)
    assert exits.take_reached(bar(118, 119, 117.5, 118), among=exits.orders()) == []
    [reached] = exits.take_reached(bar(118, 119, 90, 91), among=exits.orders())    # reaches 117 and 95
    assert reached.client_order_id == "e-1-ts" and len(exits) == 0
    exit_order = exits.market_exit(reached, bar(118, 119, 90, 91))
    assert (exit_order.type, exit_order.side, exit_order.trailing_stop_pct) == (OrderType.MARKET, Side.SELL, None)


def test_protective_exits_do_not_trail_an_exit_armed_after_the_candle_began():
    exits = ProtectiveExits("BTC/USD")
    exits.arm(market_buy(trailing_stop_pct=0.1), filled_qty=10.0, notional=1_000.0, base_fees=0.0, ts_ms=0)
    assert exits.take_reached(bar(100, 130, 95, 120), among=[]) == []
    assert exits.orders()[0].stop_price == pytest.approx(90.0)


async def test_live_sends_the_trailing_exit_at_the_trailed_level_after_a_restart(account, clock, standin):
    # Stand-in candles: 61 has high 30625 and low 30555, 62 low 30535. The fixed stop at
    # ASK * 0.9975 = 30526.55 is not reached by 62; the trailing stop lifted by 61's high is.
    before = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    bought = await before.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.0025, trailing_stop_pct=0.0025))
    assert await before.on_candle(standin_candle(61)) == []
    ts = next(o for o in before.open_orders() if o.client_order_id == f"{PREFIX}1-ts")
    assert ts.stop_price == pytest.approx(30_625 * 0.9975)

    after = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)     # a restart
    after.restore_orders([order_from_dict(order_to_dict(o)) for o in before.open_orders()],
                         fill_ids={f.fill_id for f in bought})
    assert after.open_orders() == before.open_orders()
    standin.advance_to(candle_ms(63))
    sold = await after.on_candle(standin_candle(62))

    assert [(f.client_order_id, f.side, f.reason) for f in sold] == [(f"{PREFIX}1-ts", Side.SELL, "trailing_stop")]
    assert after.open_orders() == []
    assert standin.order_submissions[f"{PREFIX}1-ts"] == 1 and f"{PREFIX}1-sl" not in standin.order_submissions
    assert_ledger_matches(bought + sold, standin)
