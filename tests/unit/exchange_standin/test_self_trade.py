"""Self-trade prevention on the stand-in, as Binance's STP FAQ says, through the real ccxt client:
an order meeting the account's own resting order first expires one or both (EXPIRED_IN_MATCH,
with preventedQuantity) by the taker's mode, EXPIRE_MAKER unless it sends one; NONE trades.

The book: bid 30596.94, ask 30603.06 (the sample market's candle 60); an own sell resting at
30600.00, inside the spread, is the best ask.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from execution.live import LiveExecution
from execution.models import Order, OrderType, Side
from execution.standin import BinanceStandIn, make_ccxt_client
from execution.standin.exchange_info import SymbolRules
from tests.integration.test_live_execution import candle
from tests.standin_exchange import account, accounts, clock
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms, make_candles

__all__ = ["account", "accounts", "clock"]      # fixtures of tests/standin_exchange.py: pytest finds them by these names

ASK = 30_603.06


async def _own_sell(exchange, standin, price: float = 30_600.0) -> dict:
    standin.set_balance("BTC", "0.01")
    return await exchange.create_order("BTC/USDT", "limit", "sell", 0.002, price, {"newClientOrderId": "maker"})


async def test_by_default_a_taker_expires_the_own_order_it_meets_and_trades_on_with_the_book(exchange, standin):
    await _own_sell(exchange, standin)
    bought = await exchange.create_order("BTC/USDT", "market", "buy", 0.001, None, {"newClientOrderId": "taker"})

    maker = await exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "maker"})
    assert (maker["info"]["status"], maker["status"], maker["filled"]) == ("EXPIRED_IN_MATCH", "expired", 0)
    assert (maker["info"]["preventedQuantity"], maker["info"]["preventedMatchId"]) == ("0.00100000", 0)
    assert (bought["info"]["status"], bought["info"]["selfTradePreventionMode"]) == ("FILLED", "EXPIRE_MAKER")
    assert [t["price"] for t in bought["trades"]] == [ASK]
    assert standin.balances["BTC"].locked == 0                     # the expired sell's coins are free again


@pytest.mark.parametrize(("mode", "maker_status"), [("EXPIRE_TAKER", "NEW"), ("EXPIRE_BOTH", "EXPIRED_IN_MATCH")])
async def test_expire_taker_and_expire_both_expire_the_taker_before_it_trades(exchange, standin, mode, maker_status):
    await _own_sell(exchange, standin)
    bought = await exchange.create_order("BTC/USDT", "market", "buy", 0.001, None,
                                         {"newClientOrderId": "taker", "selfTradePreventionMode": mode})

    assert (bought["info"]["status"], bought["status"], bought["filled"]) == ("EXPIRED_IN_MATCH", "expired", 0)
    assert bought["info"]["preventedQuantity"] == "0.00100000"
    assert standin.order_by_client_id("maker").status == maker_status
    assert standin.trades == []


async def test_with_none_the_orders_trade_with_each_other_at_the_makers_price(exchange, standin):
    await _own_sell(exchange, standin)
    await exchange.create_order("BTC/USDT", "market", "buy", 0.003, None,
                                {"newClientOrderId": "taker", "selfTradePreventionMode": "NONE"})

    assert [(t.price, t.qty, t.is_buyer, t.is_maker) for t in standin.trades] == [
        (30_600, Decimal("0.002"), False, True), (30_600, Decimal("0.002"), True, False),
        (Decimal("30603.06"), Decimal("0.001"), True, False)]
    assert standin.order_by_client_id("maker").status == "FILLED"


async def test_a_limit_inside_the_spread_meets_its_own_order_and_a_post_only_one_is_refused(exchange, standin):
    await _own_sell(exchange, standin)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="would immediately match and take"):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_601.0, {"postOnly": True})
    rests = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_601.0)   # under the ask: no trade

    assert (rests["info"]["status"], standin.order_by_client_id("maker").status) == ("NEW", "EXPIRED_IN_MATCH")


async def test_an_own_order_behind_the_quote_is_not_met(exchange, standin):
    await _own_sell(exchange, standin, price=30_700.0)
    await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    assert standin.order_by_client_id("maker").status == "NEW"


async def test_a_bots_resting_entry_expired_by_another_bots_order_is_dropped_without_fills_or_exits(account,
                                                                                                   standin):
    resting = LiveExecution(account, "BTC/USDT", order_id_prefix="bota-", reconcile_every_candles=0)
    taking = LiveExecution(account, "BTC/USDT", order_id_prefix="botb-", reconcile_every_candles=0)
    standin.set_balance("BTC", "0.01")
    assert await resting.execute_signal(Order("bota-1", "BTC/USDT", Side.BUY, OrderType.LIMIT, quantity=0.002,
                                              price=30_598.0, stop_loss_pct=0.01)) == []
    [sold] = await taking.execute_signal(Order("botb-1", "BTC/USDT", Side.SELL, OrderType.MARKET, quantity=0.001))

    assert standin.order_by_client_id("bota-1").status == "EXPIRED_IN_MATCH"
    assert await resting.on_candle(candle(60)) == [] and resting.open_orders() == []      # no position, no stop
    assert sold.price == 30_596.94


async def test_a_symbol_whose_default_mode_expires_the_taker_says_so_and_applies_it_to_orders_sent_without_one():
    async with BinanceStandIn(make_candles(), balances={"USDT": 10_000, "BTC": "0.01"}, start_ms=candle_ms(NOW_INDEX),
                              spread_bps=2, rules=SymbolRules(default_stp_mode="EXPIRE_TAKER")) as standin:
        exchange = make_ccxt_client(standin)
        try:
            [market] = (await exchange.public_get_exchangeinfo())["symbols"]
            await _own_sell(exchange, standin)
            bought = await exchange.create_order("BTC/USDT", "market", "buy", 0.001, None,
                                                 {"newClientOrderId": "taker"})
        finally:
            await exchange.close()

    assert market["defaultSelfTradePreventionMode"] == "EXPIRE_TAKER"
    assert (bought["info"]["status"], bought["info"]["selfTradePreventionMode"]) == ("EXPIRED_IN_MATCH", "EXPIRE_TAKER")
    assert standin.trades == [] and standin.order_by_client_id("maker").status == "NEW"
    with pytest.raises(ValueError, match="default_stp_mode must be one of NONE, EXPIRE_TAKER"):
        SymbolRules(default_stp_mode="EXPIRE_ALL")
