"""A limit entry's protective exits in sim (`execution.sim`): armed at its fill, as a market
entry's are and as live arms them, from the fill price. Filled within a candle at its price, they
see the candles after it; filled at the open (the candle opened beyond its price), the rest of
that candle too, as a market entry's. Before, none were armed: a limit buy with a 2% stop filled
at 95 was held down to 80."""

import pytest

from execution.models import Order, OrderType, Side
from execution.sim import SimExecution
from market.models import Candle

MIN = 60_000


def bar(i, o, h, low, c):
    return Candle(i * MIN, o, h, low, c, 1.0)


def limit_buy(price=95.0, **exits):
    return Order("e-1", "BTC/USD", Side.BUY, OrderType.LIMIT, quantity=2.0, price=price, **exits)


def limit_sell(price=105.0, **exits):
    return Order("e-1", "BTC/USD", Side.SELL, OrderType.LIMIT, quantity=2.0, price=price, **exits)


async def test_a_filled_limit_buys_stop_loss_is_armed_at_its_fill_and_stops_it_out_on_a_later_candle():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(limit_buy(stop_loss_pct=0.02))
    [entry] = await sim.on_candle(bar(0, 100.0, 100.0, 95.0, 96.0))
    assert entry.price == 95.0
    [stop] = sim.open_orders()
    assert (stop.client_order_id, stop.type, stop.oco_group) == ("e-1-sl", OrderType.STOP, "e-1")
    assert (stop.stop_price, stop.quantity) == (pytest.approx(93.1), 2.0)
    [exit_] = await sim.on_candle(bar(1, 94.0, 94.0, 80.0, 81.0))
    assert (exit_.reason, exit_.price, exit_.quantity) == ("stop_loss", pytest.approx(93.1), 2.0)
    assert sim.open_orders() == []


async def test_the_candle_that_fills_a_limit_entry_at_its_price_does_not_also_reach_its_exits():
    # Down through 95 (the fill) to 80 and up to 120: which came first the candle does not say.
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(limit_buy(stop_loss_pct=0.02, take_profit_pct=0.05, trailing_stop_pct=0.03))
    [entry] = await sim.on_candle(bar(0, 100.0, 120.0, 80.0, 96.0))
    assert entry.price == 95.0
    exits = {o.reason: o for o in sim.open_orders()}
    assert set(exits) == {"stop_loss", "take_profit", "trailing_stop"}
    assert exits["trailing_stop"].stop_price == pytest.approx(95.0 * 0.97)    # not trailed by the 120 high
    [tp] = await sim.on_candle(bar(1, 96.0, 100.0, 95.5, 99.0))
    assert (tp.reason, tp.price) == ("take_profit", pytest.approx(99.75))
    assert sim.open_orders() == []


async def test_a_limit_entry_the_candle_opens_beyond_fills_at_the_open_and_its_stop_can_fill_in_that_candle():
    # As a market entry filled at the open: the rest of the candle is after the fill.
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(limit_buy(stop_loss_pct=0.02, take_profit_pct=0.05))
    entry, stop = await sim.on_candle(bar(0, 90.0, 91.0, 85.0, 86.0))
    assert (entry.price, stop.reason, stop.price) == (90.0, "stop_loss", pytest.approx(88.2))
    assert sim.open_orders() == []


async def test_a_limit_sell_entry_arms_its_exits_mirrored_and_the_trailing_stop_follows_the_lows():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(limit_sell(stop_loss_pct=0.02, trailing_stop_pct=0.03))
    [entry] = await sim.on_candle(bar(0, 100.0, 106.0, 99.0, 104.0))
    assert entry.price == 105.0
    await sim.on_candle(bar(1, 104.0, 104.0, 100.0, 101.0))      # the low of 100 trails it to 103
    trailing = next(o for o in sim.open_orders() if o.reason == "trailing_stop")
    assert (trailing.side, trailing.stop_price) == (Side.BUY, pytest.approx(103.0))
    [exit_] = await sim.on_candle(bar(2, 101.0, 104.0, 100.5, 103.5))
    assert (exit_.reason, exit_.side, exit_.price) == ("trailing_stop", Side.BUY, pytest.approx(103.0))
    assert sim.open_orders() == []


async def test_a_limit_entry_without_exits_arms_none():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(limit_buy())
    [entry] = await sim.on_candle(bar(0, 90.0, 91.0, 85.0, 86.0))
    assert entry.price == 90.0 and sim.open_orders() == []
