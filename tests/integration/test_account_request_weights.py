"""The account's rate limiter counts each request the bots make at Binance's own weight, as the
stand-in charges it (its `X-MBX-USED-WEIGHT-1M`, from Binance's spot REST docs), through the real
ccxt client of an `ExchangeAccount`.

ccxt's limiter spends a budget of 1,200 cost units a minute for Binance's 6,000 weight, so a
request of weight w should cost w / 5. Counted low, the limiter lets through more than Binance
allows, which answers 429s and then bans the address; counted high, it holds requests (orders
among them) back for nothing. ccxt 4.5 counts aggTrades (the trade candles' poll) at 2 instead
of 4, and myTrades with an orderId at 20 instead of 5 (`execution.ccxt_client.BINANCE_WEIGHTS`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from execution.standin.rate_limits import RateLimits
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms

SYMBOL = "BTC/USDT"
WEIGHT_PER_COST = 5

CALLS: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "klines": lambda c: c.fetch_ohlcv(SYMBOL, "1m", limit=5),
    "aggTrades": lambda c: c.fetch_trades(SYMBOL, limit=50),
    "time": lambda c: c.fetch_time(),
    "depth-5": lambda c: c.fetch_order_book(SYMBOL, limit=5),
    "ticker-24hr": lambda c: c.fetch_ticker(SYMBOL),
    "account": lambda c: c.fetch_balance(),
    "openOrders": lambda c: c.fetch_open_orders(SYMBOL),
    "myTrades": lambda c: c.fetch_my_trades(SYMBOL),
    "myTrades-of-an-order": lambda c: c.fetch_my_trades(SYMBOL, None, None, {"orderId": "1001"}),
    "new-order": lambda c: c.create_order(SYMBOL, "limit", "buy", 0.001, 29_000, {"clientOrderId": "w-1"}),
    "query-order": lambda c: c.fetch_order(None, SYMBOL, {"origClientOrderId": "w-1"}),
    "cancel-order": lambda c: c.cancel_order(None, SYMBOL, {"origClientOrderId": "w-1"}),
}


def used_weight(client: Any) -> int:
    return int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"])


@pytest.mark.parametrize("name", list(CALLS))
async def test_the_accounts_limiter_counts_each_request_at_binances_weight(account, standin, name):
    standin.rate_limits = RateLimits(lambda: candle_ms(NOW_INDEX) + 1_000)     # one minute for the whole test
    await account.load_markets()
    client = account.client
    if name in ("query-order", "cancel-order"):
        await CALLS["new-order"](client)
    spent, used = client.throttler.spent, used_weight(client)

    await CALLS[name](client)

    assert round((client.throttler.spent - spent) * WEIGHT_PER_COST, 9) == used_weight(client) - used
