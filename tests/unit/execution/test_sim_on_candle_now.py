"""Sim's `on_candle_now`, which the runner asks instead of awaiting `on_candle` on every candle,
answers what `on_candle` answers: the same fills, candle by candle, and never None."""

from __future__ import annotations

from execution.models import Order, OrderType, Side
from execution.sim import SimExecution
from market.models import Candle

BAR_MS = 60_000


def candles(closes: list[float]) -> list[Candle]:
    out, previous = [], closes[0]
    for i, close in enumerate(closes):
        out.append(Candle(1_704_067_200_000 + i * BAR_MS, previous, max(previous, close) * 1.001,
                          min(previous, close) * 0.999, close, 1.0))
        previous = close
    return out


def orders_after(candle: Candle, n: int) -> list[Order]:
    """A market entry with a bracket, a resting limit and a stop: work for the next candles."""
    return [
        Order(f"m-{n}", "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=100.0, created_ts_ms=candle.ts_ms,
              stop_loss_pct=0.01, take_profit_pct=0.01),
        Order(f"l-{n}", "BTC/USD", Side.BUY, OrderType.LIMIT, quantity=0.5, price=candle.close * 0.995,
              created_ts_ms=candle.ts_ms),
        Order(f"s-{n}", "BTC/USD", Side.SELL, OrderType.STOP, quantity=0.5, stop_price=candle.close * 0.99,
              created_ts_ms=candle.ts_ms),
    ]


async def test_sim_fills_asked_now_are_the_fills_awaited_candle_by_candle():
    path = candles([100.0, 101.0, 99.5, 98.0, 100.5, 102.0, 103.0, 101.0, 99.0, 100.0])
    now, awaited = SimExecution(fee_rate=0.001, slippage_bps=5), SimExecution(fee_rate=0.001, slippage_bps=5)
    answers_now, answers_awaited = [], []
    for n, candle in enumerate(path):
        answers_now.append(list(now.on_candle_now(candle)))
        answers_awaited.append(list(await awaited.on_candle(candle)))
        if n % 3 == 0:
            for order in orders_after(candle, n):
                await now.execute_signal(order)
                await awaited.execute_signal(order)
    assert answers_now == answers_awaited
    assert sum(map(len, answers_now)) >= 6            # market fills, brackets, limits and stops among them
    assert now.open_orders() == awaited.open_orders()


def test_an_empty_sim_book_answers_no_fills_not_none():
    # None would send the runner to await `on_candle`, the coroutine this answer saves.
    assert SimExecution().on_candle_now(candles([100.0])[0]) == ()

