"""The stand-in's LIMIT orders keep Binance's documented rules (developers.binance.com, spot
"Filters" and "New order"): timeInForce is mandatory, the price sits on the tick counted from 0,
a limit priced through the book takes at the book's price, and one that rests fills as a maker."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from execution.standin import BinanceStandIn, SymbolRules, make_ccxt_client

from .sample_market import candle_ms, make_candles

ASK, BID = Decimal("30603.06"), Decimal("30596.94")


async def test_a_limit_order_without_time_in_force_is_refused_as_binance_does(exchange, standin):
    await exchange.load_markets()
    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                         "quantity": "0.001", "price": "30000"})
    assert '"code":-1102' in str(caught.value) and "timeInForce" in str(caught.value)
    assert standin.orders == []


async def test_ccxt_sends_gtc_for_a_limit_order_by_default(exchange, standin):
    await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000)
    [request] = [r for r in standin.requests if r.method == "POST"]
    assert request.params["timeInForce"] == "GTC"


@pytest.mark.parametrize(("price", "accepted"), [(30_000.0, True), (30_000.02, True), (30_000.015, False)])
async def test_the_price_filter_counts_the_tick_from_zero_not_from_the_minimum_price(price, accepted):
    rules = SymbolRules(min_price="0.015", tick_size="0.01")      # Binance: price % tickSize == 0
    async with BinanceStandIn(make_candles(), balances={"USDT": 10_000}, rules=rules,
                              start_ms=candle_ms(60)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            await exchange.load_markets()
            params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": "0.001", "price": f"{price:.3f}"}
            if accepted:
                await exchange.privatePostOrder(params)
            else:
                with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
                    await exchange.privatePostOrder(params)
        finally:
            await exchange.close()
    assert len(standin.orders) == (1 if accepted else 0)


async def test_a_limit_priced_through_the_book_takes_at_the_book_and_a_resting_one_fills_as_a_maker(exchange, standin):
    taken = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 31_000)
    resting = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_500)
    standin.advance_to(candle_ms(64))                           # the first candle down to 30,500

    taker, maker = standin.trades
    assert taken["status"] == "closed" and (taker.price, taker.is_maker) == (ASK, False)   # better than 31,000
    assert (maker.price, maker.is_maker) == (Decimal("30500"), True)
    assert (await exchange.fetch_order(resting["id"], "BTC/USDT"))["status"] == "closed"
