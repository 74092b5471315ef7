"""Orders placed, filled, queried and cancelled through the real ccxt client.

The clock starts at candle 60 (close 30600; bid 30596.94, ask 30603.06); after it, closes fall
by 20 a candle and lows sit 25 under the body, so a buy limit at 30500 is first reached by candle 64.
"""

from __future__ import annotations

from decimal import Decimal

from execution.standin import BinanceStandIn, make_ccxt_client

from .sample_market import STEP_MS, candle_ms, make_candles

ASK, BID = Decimal("30603.06"), Decimal("30596.94")


async def test_fetch_balance_shows_the_starting_balances(exchange):
    balance = await exchange.fetch_balance()

    assert balance["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
    assert balance["BTC"]["total"] == 0.0


async def test_market_buy_fills_at_the_ask_and_pays_the_fee_in_the_coin_received(exchange, standin):
    order = await exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "buy-1"})

    assert (order["status"], order["clientOrderId"], order["filled"]) == ("closed", "buy-1", 0.01)
    assert order["average"] == float(ASK)
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}          # Binance without BNB
    cost = ASK * Decimal("0.01")
    assert standin.balances["USDT"].free == 10_000 - cost
    assert standin.balances["BTC"].free == Decimal("0.00999")
    assert standin.order_submissions == {"buy-1": 1}
    trades = await exchange.fetch_my_trades("BTC/USDT")
    assert [(t["id"], t["order"], t["takerOrMaker"], t["price"]) for t in trades] == [
        (str(standin.trades[0].id), order["id"], "taker", float(ASK))]


async def test_market_sell_fills_at_the_bid(exchange, standin):
    standin.set_balance("BTC", "0.5")

    order = await exchange.create_order("BTC/USDT", "market", "sell", 0.1)

    assert order["average"] == float(BID) and order["status"] == "closed"
    assert standin.balances["USDT"].free == 10_000 + BID / 10 * Decimal("0.999")
    assert standin.balances["BTC"].free == Decimal("0.4")


async def test_ccxt_sends_a_market_order_with_a_price_or_cost_as_quote_order_qty(exchange, standin):
    by_price = await exchange.create_order("BTC/USDT", "market", "buy", 0.01, 30_000)
    by_cost = await exchange.create_order("BTC/USDT", "market", "buy", 0, params={"cost": 100})

    sent = [r.params for r in standin.requests if r.path == "/api/v3/order"]
    assert [("quantity" in p, p.get("quoteOrderQty")) for p in sent] == [(False, "300"), (False, "100")]
    # Binance buys what the quote amount pays for at the ask, rounded down to the step size.
    assert by_price["amount"] == 0.0098 and by_cost["amount"] == 0.00326


async def test_limit_order_rests_then_fills_when_a_later_candle_trades_through_it(exchange, standin):
    placed = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 30_500,
                                         params={"newClientOrderId": "dip-1"})
    locked = Decimal("305")                 # the fee is paid in the BTC received, not locked in USDT

    assert placed["status"] == "open" and placed["clientOrderId"] == "dip-1"
    assert [o["id"] for o in await exchange.fetch_open_orders("BTC/USDT")] == [placed["id"]]
    usdt = standin.balances["USDT"]
    assert (usdt.free, usdt.locked) == (10_000 - locked, locked)

    standin.advance_to(candle_ms(63))
    assert (await exchange.fetch_order(placed["id"], "BTC/USDT"))["status"] == "open"

    standin.advance(STEP_MS)
    filled = await exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "dip-1"})
    assert (filled["status"], filled["average"], filled["filled"]) == ("closed", 30_500.0, 0.01)
    assert await exchange.fetch_open_orders("BTC/USDT") == []
    assert standin.balances["USDT"].free == 10_000 - locked and standin.balances["USDT"].locked == 0
    trade = (await exchange.fetch_my_trades("BTC/USDT"))[0]
    assert (trade["takerOrMaker"], trade["timestamp"]) == ("maker", candle_ms(64))


async def test_a_limit_order_priced_through_the_book_fills_at_once_at_the_better_price(exchange):
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 31_000)

    assert order["status"] == "closed" and order["average"] == float(ASK)


async def test_cancel_releases_the_funds_and_returns_the_cancel_requests_client_id(exchange, standin):
    placed = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 30_000,
                                         params={"newClientOrderId": "to-cancel"})

    cancelled = await exchange.cancel_order(placed["id"], "BTC/USDT")

    assert cancelled["status"] == "canceled"
    # Binance answers with the id of the cancel request in clientOrderId; ccxt passes it on.
    assert cancelled["clientOrderId"] != "to-cancel" and cancelled["info"]["origClientOrderId"] == "to-cancel"
    assert standin.balances["USDT"].free == 10_000 and standin.balances["USDT"].locked == 0
    assert standin.order_by_client_id("to-cancel").status == "CANCELED"


async def test_cancel_all_orders_uses_delete_open_orders(exchange, standin):
    for price in (30_000, 29_000):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price)

    cancelled = await exchange.cancel_all_orders("BTC/USDT")

    assert [o["status"] for o in cancelled] == ["canceled", "canceled"]
    assert ("DELETE", "/api/v3/openOrders") in [(r.method, r.path) for r in standin.requests]


async def test_partial_fills_leave_a_limit_order_open_and_expire_a_market_order(exchange, standin):
    resting = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 30_500)
    standin.partial_fill_next(0.5)
    standin.advance_to(candle_ms(64))

    half = await exchange.fetch_order(resting["id"], "BTC/USDT")
    assert (half["status"], half["filled"], half["info"]["status"]) == ("open", 0.005, "PARTIALLY_FILLED")

    standin.advance(STEP_MS)
    assert (await exchange.fetch_order(resting["id"], "BTC/USDT"))["status"] == "closed"

    standin.partial_fill_next(0.25)
    market = await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert (market["status"], market["filled"], market["info"]["status"]) == ("expired", 0.0025, "EXPIRED")


async def test_fetch_my_trades_pages_by_from_id(exchange, standin):
    for _ in range(3):
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    first_id = standin.trades[0].id

    page = await exchange.fetch_my_trades("BTC/USDT", limit=2, params={"fromId": first_id + 1})

    assert [int(t["id"]) for t in page] == [first_id + 1, first_id + 2]


async def test_fees_can_be_charged_in_the_asset_received_as_binance_does():
    async with BinanceStandIn(make_candles(), balances={"USDT": 1000}, fee_asset="received",
                              start_ms=candle_ms(60)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            order = await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
        finally:
            await exchange.close()

    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    assert standin.balances["BTC"].free == Decimal("0.00999")
    assert standin.balances["USDT"].free == 1000 - ASK * Decimal("0.01")


async def test_ccxt_sends_a_broker_prefixed_client_order_id_unless_given_one(exchange, standin):
    generated = await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    unified = await exchange.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": "mine-1"})

    assert generated["clientOrderId"].startswith("x-TKT5PX2F") and len(generated["clientOrderId"]) == 32
    assert unified["clientOrderId"] == "mine-1"
    assert list(standin.order_submissions) == [generated["clientOrderId"], "mine-1"]
