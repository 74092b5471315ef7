"""Rules of Binance's spot "New order", "Query order" and "Cancel order" endpoints and its errors
list that the stand-in keeps, through the real ccxt client: the default response type by
order type, the self-trade prevention mode, timeInForce where it does not belong, both order
ids at once, cancel restrictions, archived orders, MARKET notional at the average price, and a
recvWindow with microseconds. And what the bot makes of the answers."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import ccxt
import pytest

from execution.errors import OrderNotFound
from execution.standin import BinanceStandIn, SymbolRules, make_ccxt_client
from execution.standin.signing import sign, wall_clock_ms
from tests.standin_exchange import accounts, clock

from .sample_market import candle_ms

__all__ = ["accounts", "clock"]      # fixtures of tests/standin_exchange.py: pytest finds them by these names

DAY_MS = 86_400_000


async def _order(exchange, **params) -> dict:
    await exchange.load_markets()
    return await exchange.privatePostOrder({"symbol": "BTCUSDT", **params})


@pytest.mark.parametrize(("params", "keys"), [
    ({"type": "MARKET", "side": "BUY", "quantity": "0.001"}, "full"),
    ({"type": "LIMIT", "side": "BUY", "quantity": "0.001", "price": "29000", "timeInForce": "GTC"}, "full"),
    ({"type": "LIMIT_MAKER", "side": "BUY", "quantity": "0.001", "price": "29000"}, "ack"),
    ({"type": "STOP_LOSS_LIMIT", "side": "BUY", "quantity": "0.001", "price": "31000", "stopPrice": "30900",
      "timeInForce": "GTC"}, "ack"),
], ids=["market", "limit", "limit-maker", "stop-loss-limit"])
async def test_without_new_order_resp_type_market_and_limit_answer_full_and_the_others_ack(exchange, params, keys):
    reply = await _order(exchange, **params)
    if keys == "full":
        assert "fills" in reply and "status" in reply
    else:
        assert set(reply) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}


async def test_an_order_keeps_the_symbols_default_self_trade_prevention_mode_unless_it_sends_one(exchange):
    placed = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000)
    assert placed["info"]["selfTradePreventionMode"] == "EXPIRE_MAKER"
    assert exchange.market("BTC/USDT")["info"]["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"
    sent = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000,
                                       {"selfTradePreventionMode": "EXPIRE_TAKER"})
    assert (await exchange.fetch_order(sent["id"], "BTC/USDT"))["info"]["selfTradePreventionMode"] == "EXPIRE_TAKER"
    with pytest.raises(ccxt.BadRequest, match="-1130.*'selfTradePreventionMode' is not valid"):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000, {"selfTradePreventionMode": "NO"})


@pytest.mark.parametrize("params", [{"type": "MARKET", "quantity": "0.001"},
                                    {"type": "LIMIT_MAKER", "quantity": "0.001", "price": "29000"}])
async def test_time_in_force_on_an_order_type_without_it_is_1114(exchange, standin, params):
    with pytest.raises(ccxt.BadRequest, match="-1114.*TimeInForce parameter sent when not required"):
        await _order(exchange, side="BUY", timeInForce="GTC", **params)
    assert standin.orders == []


async def test_both_order_ids_must_name_the_same_order(exchange, standin):
    first = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000, {"newClientOrderId": "one"})
    await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000, {"newClientOrderId": "two"})

    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await exchange.privateGetOrder({"symbol": "BTCUSDT", "orderId": first["id"], "origClientOrderId": "two"})
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await exchange.privateDeleteOrder({"symbol": "BTCUSDT", "orderId": first["id"], "origClientOrderId": "two"})
    both = await exchange.privateGetOrder({"symbol": "BTCUSDT", "orderId": first["id"], "origClientOrderId": "one"})
    assert both["clientOrderId"] == "one" and standin.order_by_client_id("two").status == "NEW"


async def test_cancel_restrictions_refuse_the_cancel_of_an_order_in_another_status(exchange, standin):
    placed = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000)
    with pytest.raises(ccxt.OrderNotFound, match="-2011.*Order was not canceled due to cancel restrictions"):
        await exchange.cancel_order(placed["id"], "BTC/USDT", {"cancelRestrictions": "ONLY_PARTIALLY_FILLED"})
    with pytest.raises(ccxt.BaseError, match="-1145"):
        await exchange.cancel_order(placed["id"], "BTC/USDT", {"cancelRestrictions": "ONLY_OLD"})
    assert standin.order_by_client_id(placed["clientOrderId"]).status == "NEW"
    cancelled = await exchange.cancel_order(placed["id"], "BTC/USDT", {"cancelRestrictions": "ONLY_NEW"})
    assert cancelled["info"]["status"] == "CANCELED"


def _long_candles() -> list[tuple[int, float, float, float, float, float]]:
    """Daily candles at 30,000 for 100 days from the sample market's first candle."""
    return [(candle_ms(0) + d * DAY_MS, 30_000.0, 30_010.0, 29_990.0, 30_000.0, 5.0) for d in range(100)]


async def test_an_order_cancelled_without_fills_over_90_days_ago_is_archived_and_the_bot_reads_it_as_not_found(
        accounts):
    async with BinanceStandIn(_long_candles(), balances={"USDT": 10_000}, start_ms=candle_ms(0)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            placed = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000)
            await exchange.cancel_order(placed["id"], "BTC/USDT")
            standin.advance_to(candle_ms(0) + 90 * DAY_MS)
            assert (await exchange.fetch_order(placed["id"], "BTC/USDT"))["status"] == "canceled"   # 90 days: kept
            standin.advance_to(candle_ms(0) + 90 * DAY_MS + 1)
            with pytest.raises(ccxt.ExchangeError, match="-2026.*archived"):
                await exchange.fetch_order(placed["id"], "BTC/USDT")
        finally:
            await exchange.close()
        account = accounts(base_url=standin.base_url)
        await account.load_markets()
        with pytest.raises(OrderNotFound, match="archived"):       # as an order the exchange does not have
            await account.call("fetch_order", "BTC/USDT", account.client.fetch_order, placed["id"], "BTC/USDT")


async def test_a_market_orders_notional_is_taken_at_the_average_price_not_the_book():
    # Five minutes at 30,000, then one at 60,000: the average of the last five is 36,000.
    candles = [(candle_ms(i), *((30_000.0,) * 4 if i < 5 else (60_000.0,) * 4), 1.0) for i in range(6)]
    async with BinanceStandIn(candles, balances={"USDT": 10_000}, start_ms=candle_ms(5),
                              rules=SymbolRules(min_notional="100", bid_multiplier_up="10")) as standin:
        exchange = make_ccxt_client(standin)
        try:
            with pytest.raises(ccxt.BadRequest, match="-1013.*Filter failure: NOTIONAL"):
                await exchange.create_order("BTC/USDT", "market", "buy", 0.0025)    # 150 at the ask, 90 at the average
            await exchange.create_order("BTC/USDT", "market", "buy", 0.0028)        # 100.8 at the average
            filters = {f["filterType"]: f for f in exchange.market("BTC/USDT")["info"]["filters"]}
        finally:
            await exchange.close()
    assert filters["NOTIONAL"]["avgPriceMins"] == 5 and [o.status for o in standin.orders] == ["FILLED"]


async def test_a_recv_window_with_microseconds_is_taken_and_a_fourth_decimal_is_not(standin):
    # Signed by hand: ccxt sends its recvWindow option as a whole number over any given.
    async def account(recv_window: str) -> tuple[int, dict]:
        query = f"recvWindow={recv_window}&timestamp={wall_clock_ms()}"
        url = f"{standin.base_url}/api/v3/account?{query}&signature={sign(query, standin.secret)}"
        async with aiohttp.ClientSession() as session, session.get(url, headers={"X-MBX-APIKEY": standin.api_key}) as r:
            return r.status, await r.json()

    status, body = await account("5000.125")
    assert (status, body["accountType"]) == (200, "SPOT")
    status, body = await account("5000.1255")
    assert (status, body["code"]) == (400, -1100) and "recvWindow" in body["msg"]


async def test_a_parameter_in_both_the_query_string_and_the_body_is_taken_from_the_query_string(standin):
    query = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
    body = f"quantity=0.002&newClientOrderId=both&timestamp={wall_clock_ms()}"
    signature = sign(query + body, standin.secret)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{standin.base_url}/api/v3/order?{query}", data=f"{body}&signature={signature}",
                                headers={"X-MBX-APIKEY": standin.api_key,
                                         "Content-Type": "application/x-www-form-urlencoded"}) as reply:
            assert reply.status == 200, await reply.text()
    assert standin.order_by_client_id("both").orig_qty == Decimal("0.001")


async def test_a_quantity_with_more_decimals_than_the_symbols_precision_is_1111(exchange, standin):
    with pytest.raises(ccxt.BadRequest, match="-1111.*Parameter 'quantity' has too much precision"):
        await _order(exchange, side="BUY", type="MARKET", quantity="0.000000001")
    assert standin.orders == []


async def _signed_get(standin, query: str) -> tuple[int, dict]:
    url = f"{standin.base_url}/api/v3/account?{query}&signature={sign(query, standin.secret)}"
    async with aiohttp.ClientSession() as session, session.get(url, headers={"X-MBX-APIKEY": standin.api_key}) as r:
        return r.status, await r.json()


async def test_a_timestamp_in_microseconds_is_taken_and_checked_in_its_unit(standin):
    status, body = await _signed_get(standin, f"timestamp={wall_clock_ms() * 1000 + 999}")
    assert (status, body.get("accountType")) == (200, "SPOT")
    status, body = await _signed_get(standin, f"timestamp={(wall_clock_ms() - 6_000) * 1000}")
    assert (status, body["code"]) == (400, -1021)                    # 6 s old: outside the 5 s recvWindow


async def test_a_parameter_sent_twice_in_the_query_string_is_1101(standin):
    status, body = await _signed_get(standin, f"omitZeroBalances=true&omitZeroBalances=false&timestamp={wall_clock_ms()}")
    assert (status, body) == (400, {"code": -1101, "msg": "Duplicate values for a parameter detected."})
