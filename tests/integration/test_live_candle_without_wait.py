"""A live bot's candle needs no wait while its engine follows nothing on the exchange (most
candles of most bots); once it follows an order or an exit, the candle is awaited and asks the
exchange. On the Binance stand-in through the real ccxt client."""

from __future__ import annotations

from execution.live import LiveExecution
from tests.integration.test_live_execution import PREFIX, SYMBOL, buy, candle


async def test_a_live_engine_following_nothing_answers_a_candle_at_once_and_one_following_an_exit_does_not(
        account, clock, standin):
    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    requests_before = len(standin.requests)

    assert engine.on_candle_now(candle(61)) == ()
    assert len(standin.requests) == requests_before            # nothing asked of the exchange

    bought = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.5))
    assert bought and [o.reason for o in engine.open_orders()] == ["stop_loss"]
    assert engine.on_candle_now(candle(62)) is None             # its stop is checked by `on_candle`
    assert await engine.on_candle(candle(62)) == []             # far from the stop: nothing sold
    assert [o.reason for o in engine.open_orders()] == ["stop_loss"]
