"""The stand-in's STOP_LOSS_LIMIT orders keep Binance's documented rules (spot "New order (TRADE)",
"Filters", error codes), through the real ccxt client and signed requests.

The clock starts at candle 60 (close 30600); after it closes fall by 20 a candle and lows sit 25
under the body: candle 64 trades 30540 (open), 30565, 30495 (low), 30520 (close), the first
to reach 30500.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from execution.standin import BinanceStandIn, make_ccxt_client

from .sample_market import candle_ms

HELD = 0.00999                 # what a market buy of 0.01 leaves after Binance's fee in BTC


async def _holding(exchange) -> None:
    await exchange.create_order("BTC/USDT", "market", "buy", 0.01)


async def _stop(exchange, stop: float, limit: float, cid: str = "stop-1", amount: float = HELD) -> dict:
    return await exchange.create_order("BTC/USDT", "limit", "sell", amount, limit,
                                       {"stopPrice": stop, "newClientOrderId": cid})


async def test_a_stop_rests_untriggered_off_the_book_and_locks_the_coins_it_would_sell(exchange, standin):
    await _holding(exchange)
    placed = await _stop(exchange, 30_500, 30_450)

    [request] = [r for r in standin.requests if r.params.get("newClientOrderId") == "stop-1"]
    assert (request.params["type"], request.params["timeInForce"], request.params["stopPrice"]) == (
        "STOP_LOSS_LIMIT", "GTC", "30500")
    assert (placed["status"], placed["info"]["status"], placed["info"]["stopPrice"]) == ("open", "NEW", "30500.00000000")
    queried = await exchange.fetch_order(placed["id"], "BTC/USDT")
    assert (queried["triggerPrice"], queried["info"]["isWorking"], queried["info"]["workingTime"]) == (30_500, False, -1)
    assert [o["clientOrderId"] for o in await exchange.fetch_open_orders("BTC/USDT")] == ["stop-1"]
    assert (standin.balances["BTC"].free, standin.balances["BTC"].locked) == (0, Decimal("0.00999"))
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        await exchange.create_order("BTC/USDT", "market", "sell", HELD)       # Binance refuses it too


async def test_the_stop_triggers_on_the_tape_and_takes_at_the_trade_that_reached_it(exchange, standin):
    await _holding(exchange)
    placed = await _stop(exchange, 30_500, 30_450)
    standin.advance_to(candle_ms(63))                 # down to 30515
    assert standin.order_by_client_id("stop-1").status == "NEW"

    standin.advance_to(candle_ms(64))                 # its low, 30495, reaches the stop

    done = await exchange.fetch_order(placed["id"], "BTC/USDT")
    assert (done["status"], done["filled"], done["info"]["isWorking"]) == ("closed", HELD, True)
    [trade] = await exchange.fetch_my_trades("BTC/USDT", params={"orderId": placed["id"]})
    assert (trade["price"], trade["takerOrMaker"], trade["side"]) == (30_495, "taker", "sell")
    assert standin.balances["BTC"].locked == 0 and standin.balances["BTC"].free == 0


async def test_a_stop_whose_limit_a_later_trade_reaches_fills_at_its_limit_as_a_maker(exchange, standin):
    await _holding(exchange)
    placed = await _stop(exchange, 30_500, 30_498)
    standin.advance_to(candle_ms(64))      # triggered at 30495 (under the limit), filled by the close, 30520

    [trade] = await exchange.fetch_my_trades("BTC/USDT", params={"orderId": placed["id"]})
    assert (trade["price"], trade["takerOrMaker"]) == (30_498, "maker")


def _gapping_candles() -> list[tuple[int, float, float, float, float, float]]:
    """Flat at 30,000 up to candle 61, then a gap: 29,000 from candle 62 on."""
    return [(candle_ms(i), *((30_000.0, 30_010.0, 29_990.0, 30_000.0) if i < 62 else
                             (29_000.0, 29_010.0, 28_990.0, 29_000.0)), 5.0) for i in range(70)]


async def test_a_stop_the_price_gapped_past_works_unfilled_and_its_cancel_frees_the_coins():
    async with BinanceStandIn(_gapping_candles(), balances={"USDT": 10_000}, start_ms=candle_ms(60)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            await _holding(exchange)
            placed = await _stop(exchange, 29_900, 29_800)
            standin.advance_to(candle_ms(64))

            working = await exchange.fetch_order(placed["id"], "BTC/USDT")
            assert (working["status"], working["info"]["status"], working["filled"]) == ("open", "NEW", 0)
            assert working["info"]["isWorking"] is True and working["info"]["workingTime"] == candle_ms(62)
            await exchange.cancel_order(placed["id"], "BTC/USDT")
        finally:
            await exchange.close()
    assert standin.order_by_client_id("stop-1").status == "CANCELED"
    assert (standin.balances["BTC"].free, standin.balances["BTC"].locked) == (Decimal("0.00999"), 0)


async def test_a_stop_cancelled_before_it_triggers_never_trades(exchange, standin):
    await _holding(exchange)
    placed = await _stop(exchange, 30_500, 30_450)
    await exchange.cancel_order(placed["id"], "BTC/USDT")
    standin.advance_to(candle_ms(70))

    assert standin.order_by_client_id("stop-1").status == "CANCELED"
    assert len(standin.trades) == 1 and standin.balances["BTC"].free == Decimal("0.00999")


async def test_a_stop_the_last_price_already_reached_is_refused_as_binance_refuses_it(exchange, standin):
    await _holding(exchange)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="Order would trigger immediately"):
        await _stop(exchange, 30_600, 30_550)             # the last price is 30600
    assert standin.order_by_client_id("stop-1") is None


@pytest.mark.parametrize(("params", "error"), [
    ({"timeInForce": "GTC", "quantity": "0.001", "price": "30000"}, "Mandatory parameter 'stopPrice'"),
    ({"timeInForce": "GTC", "quantity": "0.001", "stopPrice": "30000"}, "Mandatory parameter 'price'"),
    ({"quantity": "0.001", "price": "30000", "stopPrice": "30100"}, "Mandatory parameter 'timeInForce'"),
    ({"timeInForce": "GTC", "quantity": "0.001", "price": "30000", "stopPrice": "30100.005"}, "PRICE_FILTER"),
])
async def test_a_stop_order_needs_every_documented_parameter_and_a_stop_price_on_the_tick(exchange, standin, params,
                                                                                            error):
    await exchange.load_markets()
    with pytest.raises(ccxt.BaseError, match=error):
        await exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", **params})
    assert standin.orders == []


async def test_a_stop_price_on_a_plain_limit_order_is_refused(exchange, standin):
    await exchange.load_markets()
    with pytest.raises(ccxt.BaseError, match="'stopPrice' sent when not required"):
        await exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                         "quantity": "0.001", "price": "30000", "stopPrice": "29000"})


async def test_at_most_max_num_algo_orders_stops_rest_on_the_symbol(exchange, standin):
    await _holding(exchange)
    for i in range(5):
        await _stop(exchange, 30_500, 30_450, cid=f"stop-{i}", amount=0.0002)
    with pytest.raises(ccxt.BaseError, match="MAX_NUM_ALGO_ORDERS"):
        await _stop(exchange, 30_500, 30_450, cid="stop-5", amount=0.0002)
    market = exchange.market("BTC/USDT")["info"]
    assert "STOP_LOSS_LIMIT" in market["orderTypes"]
    assert {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5} in market["filters"]


async def test_a_stop_triggered_on_a_thin_book_fills_in_part_and_its_cancel_keeps_what_it_sold(exchange, standin):
    await _holding(exchange)
    placed = await _stop(exchange, 30_500, 30_450)
    standin.thin_book_at_next_stop(0.4)
    standin.advance_to(candle_ms(64))                 # its low, 30495, triggers it: 40% of it finds bids

    part = await exchange.fetch_order(placed["id"], "BTC/USDT")
    assert (part["status"], part["info"]["status"], part["filled"], part["remaining"]) == (
        "open", "PARTIALLY_FILLED", 0.00399, 0.006)
    assert (standin.balances["BTC"].free, standin.balances["BTC"].locked) == (0, Decimal("0.00600"))
    cancelled = await exchange.cancel_order(placed["id"], "BTC/USDT")
    assert (cancelled["info"]["status"], cancelled["info"]["executedQty"]) == ("CANCELED", "0.00399000")

    [trade] = await exchange.fetch_my_trades("BTC/USDT", params={"orderId": placed["id"]})
    assert (trade["price"], trade["amount"], trade["takerOrMaker"]) == (30_495, 0.00399, "taker")
    assert (standin.balances["BTC"].free, standin.balances["BTC"].locked) == (Decimal("0.00600"), 0)


async def test_the_rest_of_a_stop_filled_in_part_rests_at_its_limit_until_a_trade_reaches_it():
    candles = [(candle_ms(i), *((30_000.0, 30_010.0, 29_990.0, 30_000.0) if i < 62 else
                                (30_000.0, 30_010.0, 29_900.0, 29_900.0) if i == 62 else
                                (29_700.0, 29_710.0, 29_690.0, 29_700.0) if i < 66 else
                                (29_700.0, 29_850.0, 29_690.0, 29_840.0)), 5.0) for i in range(70)]
    async with BinanceStandIn(candles, balances={"USDT": 10_000}, start_ms=candle_ms(60)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            await _holding(exchange)
            await _stop(exchange, 29_950, 29_800)
            standin.thin_book_at_next_stop(0.5)
            standin.advance_to(candle_ms(65))         # 62 triggers it at 29900 (half fills); 63-65 trade under 29800
            stop = standin.order_by_client_id("stop-1")
            assert (stop.status, stop.executed_qty, [t.price for t in stop.trades]) == (
                "PARTIALLY_FILLED", Decimal("0.00499"), [29_900])
            standin.advance_to(candle_ms(66))         # back up to 29850: a trade reaches its limit
        finally:
            await exchange.close()
    assert (stop.status, [(t.price, t.qty, t.is_maker) for t in stop.trades]) == (
        "FILLED", [(29_900, Decimal("0.00499"), False), (29_800, Decimal("0.00500"), True)])
