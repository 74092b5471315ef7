"""A candle feed whose exchange account is banned (HTTP 418, a `Retry-After` of minutes) waits
the ban out before asking, says until when, and counts no failure, against the Binance stand-in
through the real ccxt client.

Before, the feed's request waited out the account's back-off inside the client's throttler,
within the request's timeout: a two-minute ban became "fetching candles failed (TimeoutError:
no message)" and a retry streak, though nothing had failed.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from execution.standin.rate_limits import RateLimits
from market.ccxt_feed import CcxtCandleFeed
from market.models import iso_utc
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms

SYMBOL = "BTC/USDT"
SPEED = 20               # clock seconds per real second: the stand-in's 120 s ban passes in 6 s


class RunningClock:
    """Time that runs by itself, SPEED times as fast as the event loop's: a ban of minutes
    outlasts a real request timeout of seconds, as a real ban outlasts the feed's 30 s."""

    def __init__(self, start_ms: int) -> None:
        self._start_ms, self._started = start_ms, time.monotonic()

    def now_ms(self) -> int:
        return self._start_ms + int((time.monotonic() - self._started) * 1000 * SPEED)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)


@pytest.fixture
def clock() -> RunningClock:
    """The accounts', the feed's and the stand-in's limits' clock: a second into candle 60."""
    return RunningClock(candle_ms(NOW_INDEX) + 1_000)


async def test_a_feed_waits_out_its_accounts_ban_without_a_timeout_failure(accounts, clock, standin, log_records):
    standin.rate_limits = limits = RateLimits(clock.now_ms, request_weight_limit=20)
    account, other_process = accounts(), accounts()
    await account.load_markets()                                       # exchangeInfo: weight 20 of 20
    with pytest.raises(Exception, match="Too much request weight"):   # a 429: wait until the minute ends
        await other_process.client.fetch_time()
    with pytest.raises(Exception, match="IP banned"):                 # sent during that wait: a 418 ban
        await account.client.fetch_time()
    banned_until_ms = account.backing_off_until_ms
    feed = CcxtCandleFeed(account.client, SYMBOL, "1m", clock=clock, websocket=False, request_timeout_secs=2.0)

    candles = await feed.history(10)

    assert limits.refusals == [429, 418]                               # the feed sent nothing during the ban
    assert clock.now_ms() >= banned_until_ms and candles and candles[-1].ts_ms <= candle_ms(NOW_INDEX)
    lines = [(r["level"].name, r["message"]) for r in log_records if r["name"] == "market.feed_retry"]
    assert lines == [("INFO", f"binance {SYMBOL} 1m: waiting out the exchange's ban/back-off until "
                              f"{iso_utc(banned_until_ms)} (every request of this account waits; not a failure), "
                              "then fetching candles again")]
