"""`LiveExecution` against the Binance stand-in's races: an order that fills while its cancel is
on the way, a trade list that lags the order's status, a 5xx after the order was booked, an order
booked seconds after its 5xx, and a client order id sent again while its order is open.

The stand-in and its account come from tests/integration/conftest.py. The market: the clock
starts at candle 60 (close 30600; bid 30596.94, ask 30603.06); closes then fall by 20 a candle and
lows sit 25 under the body, so a buy limit at 30500 is first reached by candle 64.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from execution.live import LiveExecution
from execution.models import Fill, Order, OrderType, Side
from market.models import Candle
from runner.bot.clock import ManualClock
from execution.standin import BinanceStandIn
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms, make_candles

SYMBOL, PREFIX = "BTC/USDT", "brrace0001-"
CANDLES = make_candles()


def candle(i: int) -> Candle:
    return Candle(*CANDLES[i])


@pytest.fixture
def clock() -> ManualClock:
    """The conftest's account and this module's engines on a clock at the stand-in's start."""
    return ManualClock(candle_ms(NOW_INDEX))


@pytest.fixture
def engine(account, clock) -> LiveExecution:
    return LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=0)


def limit_buy(seq: int, price: float, quantity: float = 0.01) -> Order:
    return Order(f"{PREFIX}{seq}", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=quantity, price=price)


def assert_ledger_matches(fills: Iterable[Fill], standin: BinanceStandIn) -> None:
    """The bot's fills are the stand-in's trades of the bot's orders, each exactly once."""
    client_ids = {o.order_id: o.client_order_id for o in standin.orders}
    expected = sorted((str(t.id), client_ids[t.order_id], float(t.qty), float(t.price)) for t in standin.trades
                      if client_ids[t.order_id].startswith(PREFIX))
    assert sorted((f.fill_id, f.client_order_id, f.quantity, f.price) for f in fills) == expected


async def cancel_all_and_its_fills(engine: LiveExecution, i: int) -> tuple[list[Order], list[Fill]]:
    """`cancel_all`, then the fills it found: handed over with its result or by the next candle."""
    result = await engine.cancel_all()
    cancelled, fills = result if isinstance(result, tuple) else (result, [])
    return list(cancelled), list(fills) + list(await engine.on_candle(candle(i)))


async def test_an_order_that_fills_while_its_cancel_is_on_the_way_is_reported_filled_not_cancelled(
        engine, standin, log_records):
    order = limit_buy(1, 30_000.0)
    assert await engine.execute_signal(order) == []
    standin.fill_during_cancel_next()

    cancelled, fills = await cancel_all_and_its_fills(engine, NOW_INDEX)

    assert cancelled == [] and engine.open_orders() == []
    assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [(order.client_order_id, 0.01, 30_000.0)]
    assert [o.status for o in standin.orders] == ["FILLED"]
    assert not [r for r in log_records if r["level"].name in ("ERROR", "CRITICAL")]
    assert_ledger_matches(fills, standin)


async def test_an_order_whose_trades_lag_its_status_stays_followed_until_they_show(engine, standin):
    order = limit_buy(1, 30_500.0)
    standin.lag_trades_next(requests=1)
    assert await engine.execute_signal(order) == []
    standin.advance_to(candle_ms(64))                        # the order fills on the exchange

    first = await engine.on_candle(candle(64))               # FILLED, but myTrades does not list it yet

    assert list(first) == [] and engine.open_orders() == [order]
    second = await engine.on_candle(candle(65))
    assert [(f.client_order_id, f.quantity) for f in second] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == []
    assert_ledger_matches(list(first) + list(second), standin)


async def test_an_order_booked_before_a_5xx_is_looked_up_and_its_fill_reported_never_resent(engine, standin):
    standin.fail_after_processing_next()                     # 503 -1007 "execution status unknown"
    order = Order(f"{PREFIX}1", SYMBOL, Side.BUY, quantity=0.01)

    fills = await engine.execute_signal(order)

    assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == [] and standin.order_submissions[order.client_order_id] == 1
    assert_ledger_matches(fills, standin)


# Binance: "HTTP 5XX return codes are used for internal errors ... It is important to NOT treat
# this as a failure operation; the execution status is UNKNOWN and could have been a success."
SERVER_ERRORS = [(503, -1006), (503, -1007), (500, -1000), (500, -1001), (503, -1008), (500, None), (502, None),
                 (503, None), (504, None)]
SERVER_ERROR_IDS = [f"{status}-{'html' if code is None else code}" for status, code in SERVER_ERRORS]


@pytest.mark.parametrize(("status", "code"), SERVER_ERRORS, ids=SERVER_ERROR_IDS)
async def test_an_order_booked_before_any_5xx_is_found_by_its_client_id_and_booked_once(engine, standin, status, code):
    standin.fail_after_processing_next(status=status, code=code)
    order = limit_buy(1, 30_700.0)                      # through the ask: it fills at once

    fills = await engine.execute_signal(order)

    assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == [] and standin.order_submissions[order.client_order_id] == 1
    assert_ledger_matches(fills, standin)


@pytest.mark.parametrize(("status", "code"), SERVER_ERRORS, ids=SERVER_ERROR_IDS)
async def test_an_order_no_5xx_let_through_is_dropped_only_past_the_grace_and_never_resent(
        engine, standin, status, code):
    standin.fail_next("POST /api/v3/order", status=status, code=code)
    order = limit_buy(1, 30_700.0)

    assert await engine.execute_signal(order) == []
    assert await engine.on_candle(candle(NOW_INDEX)) == [] and engine.open_orders() == [order]   # within the grace
    standin.advance_to(candle_ms(NOW_INDEX + 1))
    assert await engine.on_candle(candle(NOW_INDEX)) == []

    assert engine.open_orders() == [] and standin.orders == []
    assert standin.order_submissions[order.client_order_id] == 1


async def test_an_order_the_exchange_books_seconds_after_its_5xx_is_kept_while_not_found_then_booked_once(
        engine, standin, log_records):
    # 503 -1007 at once; the matching engine takes the order 8 s later, within ccxt's recvWindow
    # (10 s). Not found at the send and 5 s later: both inside the grace (recvWindow + 1 s).
    standin.land_late_next(after_ms=8_000)
    order = Order(f"{PREFIX}1", SYMBOL, Side.BUY, quantity=0.01)
    start_ms = standin.now_ms

    assert await engine.execute_signal(order) == []
    standin.advance_to(start_ms + 5_000)
    assert await engine.on_candle(candle(NOW_INDEX)) == []
    assert engine.open_orders() == [order] and standin.orders == []       # not found twice: pending still
    standin.advance_to(start_ms + 8_000)                                  # it lands, and fills
    fills = await engine.on_candle(candle(NOW_INDEX))

    assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == [] and standin.order_submissions[order.client_order_id] == 1
    assert [m for m in (r["message"] for r in log_records) if "not found yet" in m][-1].endswith(
        "(2 time(s)); looking again at the next candle")
    assert not any("never reached the exchange" in r["message"] for r in log_records)
    assert_ledger_matches(fills, standin)


async def test_a_client_order_id_sent_again_while_its_order_is_open_is_looked_up_not_forgotten(
        account, clock, standin, log_records):
    # An earlier run placed the order; this one (its snapshot lost the order) decides it again.
    earlier = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=0)
    order = limit_buy(1, 30_500.0)
    assert await earlier.execute_signal(order) == []
    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=0)

    assert await engine.execute_signal(order) == []

    assert standin.order_submissions[order.client_order_id] == 2 and len(standin.orders) == 1
    assert [o.client_order_id for o in engine.open_orders()] == [order.client_order_id]   # followed, pending
    assert not any("refused" in r["message"] for r in log_records if r["level"].name == "WARNING")
    standin.advance_to(candle_ms(64))
    fills = await engine.on_candle(candle(64))
    assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == []
    assert_ledger_matches(fills, standin)
