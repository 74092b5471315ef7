import pytest

from execution.models import Order, OrderType, Side
from execution.sim import SimExecution
from market.models import Candle


def candle(ts, o, h, l, c):
    return Candle(ts, o, h, l, c, 1.0)


def market_buy(amount=1_000.0, **extra):
    return Order("b-1", "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=amount, **extra)


async def test_market_order_fills_at_the_next_candles_open_not_now():
    sim = SimExecution(fee_rate=0.001)
    assert await sim.execute_signal(market_buy()) == []
    [fill] = await sim.on_candle(candle(60_000, 100.0, 110.0, 90.0, 105.0))
    assert fill.price == 100.0
    assert fill.quantity == pytest.approx(10.0)
    assert fill.fee == pytest.approx(1.0)
    assert fill.ts_ms == 60_000
    assert await sim.on_candle(candle(120_000, 1, 1, 1, 1)) == ()


async def test_slippage_moves_market_fills_against_the_trader():
    sim = SimExecution(fee_rate=0.0, slippage_bps=10)
    await sim.execute_signal(market_buy())
    await sim.execute_signal(Order("s-1", "BTC/USD", Side.SELL, quantity=1.0))
    buy, sell = await sim.on_candle(candle(0, 100.0, 100.0, 100.0, 100.0))
    assert buy.price == pytest.approx(100.1)
    assert sell.price == pytest.approx(99.9)
    assert sell.fee == 0.0


async def test_fee_is_charged_on_the_filled_notional_of_a_quantity_order():
    sim = SimExecution(fee_rate=0.002)
    await sim.execute_signal(Order("s-1", "BTC/USD", Side.SELL, quantity=2.0))
    [fill] = await sim.on_candle(candle(0, 50.0, 50.0, 50.0, 50.0))
    assert fill.fee == pytest.approx(0.2)


@pytest.mark.parametrize("side, limit, bar, expected", [
    (Side.BUY, 95.0, (100.0, 101.0, 94.0, 96.0), 95.0),     # trades down through the limit
    (Side.BUY, 95.0, (93.0, 96.0, 92.0, 94.0), 93.0),       # opens below: fills at the better open
    (Side.BUY, 95.0, (100.0, 101.0, 95.5, 96.0), None),     # never reaches it
    (Side.SELL, 105.0, (100.0, 106.0, 99.0, 101.0), 105.0),
    (Side.SELL, 105.0, (107.0, 108.0, 106.0, 107.0), 107.0),
])
async def test_limit_order_fills_when_a_later_candle_reaches_its_price(side, limit, bar, expected):
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(Order("l-1", "BTC/USD", side, OrderType.LIMIT, quantity=1.0, price=limit))
    fills = await sim.on_candle(candle(0, *bar))
    if expected is None:
        assert fills == [] and len(sim.open_orders()) == 1
    else:
        assert [f.price for f in fills] == [expected] and sim.open_orders() == []


@pytest.mark.parametrize("bar, expected", [
    ((100.0, 101.0, 89.0, 95.0), 90.0),    # trades down through the stop
    ((85.0, 86.0, 80.0, 84.0), 85.0),      # gaps below: fills at the worse open
    ((100.0, 101.0, 90.5, 95.0), None),
])
async def test_sell_stop_triggers_when_the_range_reaches_it(bar, expected):
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(Order("st-1", "BTC/USD", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0))
    fills = await sim.on_candle(candle(0, *bar))
    assert [f.price for f in fills] == ([] if expected is None else [expected])


async def test_entry_with_protective_exits_can_be_stopped_out_in_the_candle_it_fills():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(market_buy(1_000.0, stop_loss_pct=0.05, take_profit_pct=0.10))
    entry, stop = await sim.on_candle(candle(0, 100.0, 101.0, 94.0, 96.0))
    assert (entry.price, stop.price, stop.reason) == (100.0, 95.0, "stop_loss")
    assert stop.quantity == pytest.approx(entry.quantity)
    assert sim.open_orders() == []      # the take-profit went with it


async def test_take_profit_fills_and_cancels_its_stop():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(market_buy(1_000.0, stop_loss_pct=0.05, take_profit_pct=0.10))
    await sim.on_candle(candle(0, 100.0, 101.0, 99.0, 100.0))
    assert {o.reason for o in sim.open_orders()} == {"stop_loss", "take_profit"}
    [tp] = await sim.on_candle(candle(60_000, 105.0, 112.0, 104.0, 111.0))
    assert (tp.price, tp.reason) == (pytest.approx(110.0), "take_profit")
    assert sim.open_orders() == []


async def test_a_candle_reaching_both_stop_and_target_reports_the_stop():
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(market_buy(1_000.0, stop_loss_pct=0.05, take_profit_pct=0.10))
    await sim.on_candle(candle(0, 100.0, 100.0, 100.0, 100.0))
    [fill] = await sim.on_candle(candle(60_000, 100.0, 120.0, 80.0, 100.0))
    assert fill.reason == "stop_loss"


async def test_cancel_all_returns_and_removes_resting_orders():
    sim = SimExecution()
    await sim.execute_signal(Order("l-1", "BTC/USD", Side.BUY, OrderType.LIMIT, quantity=1.0, price=1.0))
    cancelled, fills = await sim.cancel_all()
    assert ([o.client_order_id for o in cancelled], fills) == (["l-1"], [])
    assert sim.open_orders() == []


def test_an_order_needs_exactly_one_size():
    with pytest.raises(ValueError, match="exactly one of quantity and quote_amount"):
        Order("x", "BTC/USD", Side.BUY)
    with pytest.raises(ValueError, match="market buys only"):
        Order("x", "BTC/USD", Side.SELL, quote_amount=10.0)
