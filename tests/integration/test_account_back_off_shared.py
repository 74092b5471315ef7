"""Every request of an exchange account waits out its back-off after a 429, the candle feeds'
included, against the Binance stand-in's own request-weight limit through the real ccxt client.

Binance: "Repeatedly violating rate limits and/or failing to back off after receiving 429s will
result in an automated IP ban (HTTP status 418)", and the ban stops every bot on the address,
orders included. The stand-in bans a request sent before a 429's `Retry-After` has passed. The
candle feeds call the account's ccxt client directly, not through `ExchangeAccount.call`: before,
a feed polled klines through the account's back-off (banned), and a 429 a feed met held back
only that feed while the account's orders and lookups went on (banned).
"""

from __future__ import annotations

import asyncio

import pytest

from execution.standin.rate_limits import RateLimits
from market.ccxt_feed import CcxtCandleFeed
from runner.bot.clock import ManualClock
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms

SYMBOL = "BTC/USDT"


@pytest.fixture
def clock() -> ManualClock:
    """The account's, the feed's and the stand-in's limits' clock: a second into candle 60."""
    return ManualClock(candle_ms(NOW_INDEX) + 1_000)


def limit_weight(standin, clock, weight: int) -> RateLimits:
    standin.rate_limits = limits = RateLimits(clock.now_ms, request_weight_limit=weight)
    return limits


async def test_a_429_an_order_met_holds_back_the_candle_feed_on_the_same_client(accounts, clock, standin):
    limits = limit_weight(standin, clock, 20)
    account = accounts()
    await account.load_markets()                                       # exchangeInfo: weight 20
    create = account.client.create_order
    with pytest.raises(Exception, match="Too much request weight"):   # the order (weight 1) is over 20
        await account.call("create_order", SYMBOL, create, SYMBOL, "limit", "buy", 0.001, 29_000,
                           order_submission=True)
    told_until_ms = account.backing_off_until_ms
    feed = CcxtCandleFeed(account.client, SYMBOL, "1m", clock=clock, websocket=False)

    candles = await feed.history(3)

    assert limits.refusals == [429]                                    # no 418: the feed waited
    assert told_until_ms == candle_ms(NOW_INDEX + 1) and clock.now_ms() >= told_until_ms
    # The feed asks once the back-off has ended, at candle 61's open: candle 60 has closed by then.
    assert [c.ts_ms for c in candles] == [candle_ms(i) for i in (58, 59, 60)]


@pytest.mark.parametrize("window_secs", [None, 0], ids=["rolling-window", "leaky-bucket"])
async def test_a_429_met_outside_the_accounts_calls_holds_back_the_account(accounts, clock, standin, window_secs):
    limits = limit_weight(standin, clock, 20)
    account = accounts(rate_limit_window_secs=window_secs)
    await account.load_markets()                                       # exchangeInfo: weight 20
    with pytest.raises(Exception, match="Too much request weight"):   # as a feed asks: on the client itself
        await account.client.fetch_ohlcv(SYMBOL, "1m", limit=3)

    ticker = await account.call("fetch_ticker", SYMBOL, account.client.fetch_ticker, SYMBOL)

    assert limits.refusals == [429]                                    # no 418: the account waited
    assert account.backing_off_until_ms == candle_ms(NOW_INDEX + 1) and ticker["symbol"] == SYMBOL


async def test_orders_refused_together_for_the_order_count_back_off_once_not_once_each(accounts, clock, standin):
    # Binance's unfilled order count (-1015, a 429 without Retry-After) refuses the orders past
    # it, sent at one candle close by the account's bots: one episode, a 1 s wait. Each counted
    # as another refusal in a row doubled the wait up to 60 s, every bot's candles and lookups
    # held behind it.
    standin.rate_limits = limits = RateLimits(clock.now_ms, orders_per_10s=2)
    account = accounts()
    await account.load_markets()
    create = account.client.create_order

    async def limit_buy(i: int) -> str:
        try:
            await account.call("create_order", SYMBOL, create, SYMBOL, "limit", "buy", 0.001, 29_000 + i,
                               order_submission=True)
        except Exception as exc:                                  # noqa: BLE001 - the outcome is the answer
            return type(exc).__name__
        return "placed"

    outcomes = await asyncio.gather(*(limit_buy(i) for i in range(8)))

    assert sorted(outcomes) == ["RateLimited"] * 6 + ["placed"] * 2 and limits.refusals == [429] * 6
    assert account.backing_off_until_ms - clock.now_ms() == 1_000
