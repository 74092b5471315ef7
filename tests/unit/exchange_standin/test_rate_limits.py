"""The stand-in's request-weight and unfilled-order limits follow Binance's spot docs ("LIMITS",
"Spot Unfilled Order Count Rules"), seen through the real ccxt client: weights by parameter,
fixed intervals, 429 with Retry-After then a 418 ban for a client that does not back off, -1015
without Retry-After, filled orders not counted. And the bot's account backs off as told."""

from __future__ import annotations

import ccxt
import pytest

from execution.errors import RateLimited
from execution.standin import BinanceStandIn, make_ccxt_client
from tests.standin_exchange import accounts, clock

from .sample_market import NOW_INDEX, candle_ms, make_candles

__all__ = ["accounts", "clock"]      # fixtures of tests/standin_exchange.py: pytest finds them by these names

MINUTE_START_MS = 1_800_000_000_000 - 1_800_000_000_000 % 60_000     # a whole minute of the limits' clock


class LimitsClock:
    """The limits' clock, moved by the test (the host's would cross a minute at random)."""

    def __init__(self, now_ms: int = MINUTE_START_MS + 1_000) -> None:
        self.now = now_ms

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def limited():
    """Factory: `limited(**limits)` -> (stand-in, its limits' clock, a ccxt client): the sample
    market with lower limits."""
    made = []

    async def make(**limits):
        standin = BinanceStandIn(make_candles(), balances={"USDT": 10_000}, start_ms=candle_ms(NOW_INDEX),
                                 **limits)
        await standin.start()
        clock = LimitsClock()
        standin.rate_limits.clock_ms = clock
        client = make_ccxt_client(standin)
        made.append((standin, client))
        return standin, clock, client

    yield make
    for standin, client in made:
        await client.close()
        await standin.aclose()


def used(client) -> int:
    return int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"])


@pytest.mark.parametrize(("call", "weight"), [
    (lambda c: c.publicGetDepth({"symbol": "BTCUSDT"}), 5),
    (lambda c: c.publicGetDepth({"symbol": "BTCUSDT", "limit": 500}), 25),
    (lambda c: c.publicGetDepth({"symbol": "BTCUSDT", "limit": 1000}), 50),
    (lambda c: c.publicGetDepth({"symbol": "BTCUSDT", "limit": 5000}), 250),
    (lambda c: c.publicGetTicker24hr({"symbol": "BTCUSDT"}), 2),
    (lambda c: c.publicGetTicker24hr(), 80),
    (lambda c: c.publicGetTickerPrice({"symbol": "BTCUSDT"}), 2),
    (lambda c: c.publicGetTickerPrice(), 4),
    (lambda c: c.publicGetTickerBookTicker(), 4),
    (lambda c: c.privateGetOpenOrders({"symbol": "BTCUSDT"}), 6),
    (lambda c: c.privateGetOpenOrders(), 80),
    (lambda c: c.privateGetMyTrades({"symbol": "BTCUSDT"}), 20),
    (lambda c: c.privateGetMyTrades({"symbol": "BTCUSDT", "orderId": 1}), 5),
    (lambda c: c.privateGetAccount(), 20),
], ids=["depth-100", "depth-500", "depth-1000", "depth-5000", "24hr-one", "24hr-all", "price-one", "price-all",
        "book-all", "open-orders-one", "open-orders-all", "my-trades", "my-trades-of-an-order", "account"])
async def test_each_request_weighs_what_binance_documents_for_its_parameters(limited, call, weight):
    standin, clock, client = await limited()
    await client.publicGetPing()
    await call(client)
    assert used(client) == 1 + weight


async def test_the_used_weight_counts_the_current_minute_and_starts_again_at_the_next(limited):
    standin, clock, client = await limited()
    for _ in range(3):
        await client.publicGetTickerPrice({"symbol": "BTCUSDT"})
    assert used(client) == 6
    clock.now = MINUTE_START_MS + 59_999
    await client.publicGetPing()
    assert used(client) == 7                                 # the same minute, 58 s later: not a rolling window
    clock.now = MINUTE_START_MS + 60_000
    await client.publicGetPing()
    assert used(client) == 1


async def test_past_the_limit_a_429_says_when_to_retry_and_not_waiting_gets_the_ip_banned(limited):
    standin, clock, client = await limited(request_weight_limit=10)
    for _ in range(5):
        await client.publicGetTickerPrice({"symbol": "BTCUSDT"})
    clock.now = MINUTE_START_MS + 45_500

    with pytest.raises(ccxt.DDoSProtection, match="Too much request weight used; current limit is 10 request "
                                                  "weight per 1 MINUTE"):
        await client.publicGetTickerPrice({"symbol": "BTCUSDT"})
    assert client.last_response_headers["Retry-After"] == "15"          # seconds to the minute's end
    clock.now += 1_000                                       # did not back off
    with pytest.raises(ccxt.DDoSProtection, match=f"IP banned until {clock.now + 120_000}"):
        await client.publicGetPing()
    assert client.last_response_headers["Retry-After"] == "120"
    clock.now += 119_000
    with pytest.raises(ccxt.DDoSProtection, match=" 418 "):
        await client.publicGetPing()
    assert client.last_response_headers["Retry-After"] == "1"
    clock.now += 1_000
    await client.publicGetPing()
    assert standin.rate_limits.refusals == [429, 418, 418]


async def test_a_second_ban_lasts_twice_as_long(limited):
    standin, clock, client = await limited(request_weight_limit=1)
    for expected_ban_secs in ("120", "240"):
        clock.now = (clock.now // 60_000 + 1) * 60_000      # a fresh minute
        await client.publicGetPing()
        for status in (429, 418):
            with pytest.raises(ccxt.DDoSProtection, match=f" {status} "):
                await client.publicGetPing()
        assert client.last_response_headers["Retry-After"] == expected_ban_secs
        clock.now += int(expected_ban_secs) * 1000


async def test_exchange_info_lists_the_limits_it_enforces(limited):
    standin, clock, client = await limited(request_weight_limit=1200, orders_per_10s=5)
    info = await client.publicGetExchangeInfo()
    limits = {(r["rateLimitType"], r["intervalNum"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert limits == {("REQUEST_WEIGHT", 1, "MINUTE"): 1200, ("ORDERS", 10, "SECOND"): 5,
                      ("ORDERS", 1, "DAY"): 200_000, ("RAW_REQUESTS", 5, "MINUTE"): 61_000}


async def test_unfilled_orders_past_the_limit_get_1015_without_retry_after_and_filled_ones_do_not_count(limited):
    standin, clock, client = await limited(orders_per_10s=3)
    for i in range(3):                                        # fill at once: they leave the count
        await client.create_order("BTC/USDT", "market", "buy", 0.001)
        assert client.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"     # itself, until its fill
    for i in range(3):                                        # rest unfilled: they stay in it
        await client.create_order("BTC/USDT", "limit", "buy", 0.001, 29_000 + i)
        assert client.last_response_headers["X-MBX-ORDER-COUNT-10S"] == str(i + 1)
        assert client.last_response_headers["X-MBX-ORDER-COUNT-1D"] == str(i + 1)

    with pytest.raises(ccxt.DDoSProtection, match="-1015.*Too many new orders; current limit is 3 orders per "
                                                  "10 SECOND"):
        await client.create_order("BTC/USDT", "limit", "buy", 0.001, 28_000)
    assert "Retry-After" not in client.last_response_headers
    assert "X-MBX-ORDER-COUNT-10S" not in client.last_response_headers
    assert len(standin.orders) == 6                          # the refused order was not placed
    clock.now = MINUTE_START_MS + 10_000                       # the next 10 seconds
    await client.create_order("BTC/USDT", "limit", "buy", 0.001, 28_000)
    assert client.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert client.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "4"


async def test_the_account_backs_off_as_a_429_says_and_never_gets_banned(accounts, clock, standin):
    standin.rate_limits = limits = type(standin.rate_limits)(clock.now_ms, request_weight_limit=30)
    account = accounts()
    await account.load_markets()                             # exchangeInfo: 20
    for _ in range(8):                                       # 2 each: the sixth is over 30
        await account.call("fetch_ticker", "BTC/USDT", account.client.fetch_ticker, "BTC/USDT")

    assert limits.refusals == [429]
    assert account.backing_off_until_ms % 60_000 == 0         # waited for the minute's end, as told


async def test_an_order_refused_for_the_order_count_is_rate_limited_not_placed(accounts, clock, standin):
    standin.rate_limits = limits = type(standin.rate_limits)(clock.now_ms, orders_per_10s=1)
    account = accounts()
    await account.load_markets()
    create = account.client.create_order
    await account.call("create_order", "BTC/USDT", create, "BTC/USDT", "limit", "buy", 0.001, 29_000,
                       order_submission=True)
    with pytest.raises(RateLimited, match="Too many new orders") as refused:
        await account.call("create_order", "BTC/USDT", create, "BTC/USDT", "limit", "buy", 0.001, 29_001,
                           order_submission=True)
    assert refused.value.retry_after_secs is None and len(standin.orders) == 1 and limits.refusals == [429]
