"""TradeCandleFeed against the Binance stand-in: candles made from its trades by the real ccxt
client equal its klines; late trades are counted and never change a candle. Time is moved by
the test (`SteppedExchangeClock`), so nothing waits on wall time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from execution.standin import BinanceStandIn, SteppedExchangeClock, make_ccxt_client
from market.models import Candle
from market.trade_feed import TradeCandleFeed
from tests.unit.market.test_ccxt_feed import NOW_INDEX, ROWS, Reader, candle_ms, candles

GRACE_MS = 2_000


@pytest.fixture
async def standin():
    async with BinanceStandIn(ROWS, start_ms=candle_ms(NOW_INDEX) + 1_000) as running:
        yield running


@pytest.fixture
async def client(standin):
    exchange = make_ccxt_client(standin)
    yield exchange
    await exchange.close()


@pytest.fixture
def clock(standin) -> SteppedExchangeClock:
    return SteppedExchangeClock(standin)


@pytest.fixture
async def make_feed(client, clock):
    made: list[TradeCandleFeed] = []

    def make(**kwargs: Any) -> TradeCandleFeed:
        made.append(TradeCandleFeed(client, "BTC/USDT", "1m", clock=clock, grace_secs=GRACE_MS / 1000,
                                    poll_secs=60, **kwargs))
        return made[-1]

    yield make
    for feed in made:
        await feed.aclose()


async def read(feed: TradeCandleFeed, clock: SteppedExchangeClock) -> Reader:
    reader = Reader(feed)
    await clock.settle()
    return reader


async def to_close_of(clock: SteppedExchangeClock, index: int) -> None:
    """Move the clock to candle `index`'s close plus the grace: the feed's poll for it."""
    await clock.step(candle_ms(index + 1) + GRACE_MS - clock.now_ms())


async def finish(feed: TradeCandleFeed, reader: Reader) -> None:
    await feed.aclose()
    await asyncio.wait_for(reader.task, timeout=1)


async def test_candles_made_from_trades_equal_the_exchanges_klines(make_feed, clock):
    feed = make_feed()
    reader = await read(feed, clock)

    for index in range(NOW_INDEX, NOW_INDEX + 5):
        await to_close_of(clock, index)

    assert reader.batches == [[c] for c in candles(NOW_INDEX, NOW_INDEX + 4)]
    assert feed.late_trades == 0
    await finish(feed, reader)


async def test_history_is_the_klines_and_the_stream_builds_on_from_the_next_period(make_feed, clock, standin):
    feed = make_feed()

    warm = await feed.history(10)
    reader = await read(feed, clock)
    await to_close_of(clock, NOW_INDEX)

    assert warm == candles(NOW_INDEX - 10, NOW_INDEX - 1)
    assert reader.candles == candles(NOW_INDEX, NOW_INDEX)
    asked = [r.params for r in standin.requests if r.path == "/api/v3/aggTrades"]
    assert asked[0]["startTime"] == str(candle_ms(NOW_INDEX))       # from the period's start: a whole candle
    await finish(feed, reader)


async def test_a_feed_behind_catches_up_on_every_candle_in_order(make_feed, clock):
    feed = make_feed()
    reader = await read(feed, clock)

    await clock.step(candle_ms(NOW_INDEX + 8) + GRACE_MS - clock.now_ms())

    assert reader.candles == candles(NOW_INDEX, NOW_INDEX + 7)
    await finish(feed, reader)


async def test_trades_published_after_the_grace_are_late_counted_and_leave_the_candle_as_emitted(
        make_feed, clock, standin, log_records):
    standin.api.market_trades.publish_delay_ms = 20_000    # the close trade (at :45) is out at :05 of the next minute
    feed = make_feed()
    reader = await read(feed, clock)

    await to_close_of(clock, NOW_INDEX)
    await to_close_of(clock, NOW_INDEX + 1)
    await to_close_of(clock, NOW_INDEX + 2)

    first = Candle(*ROWS[NOW_INDEX])
    trades = standin.api.market_trades.of_bar(NOW_INDEX)
    three = [float(t.price) for t in trades[:3]]
    assert reader.candles[0] == Candle(first.ts_ms, first.open, max(three), min(three), three[-1],
                                       sum(float(t.qty) for t in trades[:3]))
    closes = [standin.api.market_trades.of_bar(i)[-1] for i in (NOW_INDEX, NOW_INDEX + 1)]
    assert feed.late_trades == 2 and feed.late_volume == sum(float(t.qty) for t in closes)
    late_lines = [r["message"] for r in log_records if "late trades" in r["message"]]
    assert late_lines and late_lines[0].startswith("binance BTC/USDT 1m trades: 1 late trades (")
    await finish(feed, reader)
