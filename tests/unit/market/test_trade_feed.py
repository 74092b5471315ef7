"""TradeCandleFeed against the Binance stand-in: candles made from its trades by the real ccxt
client equal its klines; late trades are counted and never change a candle. Time is moved by
the test (`SteppedExchangeClock`), so nothing waits on wall time."""

from __future__ import annotations

import pytest

from execution.standin import SteppedExchangeClock
from execution.standin.trade_bursts import BurstTrades
from market.models import Candle
from market.trade_feed import TradeCandleFeed
from tests.fakes import eventually
from tests.unit.market.standin_feeds import NOW_INDEX, ROWS, STEP_MS, candle_ms, candles, finish, read

GRACE_MS = 2_000
BURST_FIRST_ID = NOW_INDEX * 4 + 1       # the stand-in's ids count four a candle from 1


@pytest.fixture
def make_feed(client, clock, close_after):
    """Build feeds on the stand-in, polling at each close plus the grace; each is closed after the test."""
    return lambda **kwargs: close_after(TradeCandleFeed(client, "BTC/USDT", "1m", clock=clock,
                                                        grace_secs=GRACE_MS / 1000, poll_secs=60, **kwargs))


async def to_close_of(clock: SteppedExchangeClock, index: int) -> None:
    """Move the clock to candle `index`'s close plus the grace: the feed's poll for it."""
    await clock.step(candle_ms(index + 1) + GRACE_MS - clock.now_ms())


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


async def test_more_trades_in_one_millisecond_than_a_page_holds_are_all_taken_paging_by_id(make_feed, clock, standin):
    # 2,500 trades at candle 60's first millisecond, pages of 1,000: by startTime the second page
    # would be the first again; aggTrades' fromId reaches the rest.
    standin.api.market_trades = BurstTrades(standin.api.tape, NOW_INDEX, 2_500)
    feed = make_feed(limit=1000)
    reader = await read(feed, clock)

    await to_close_of(clock, NOW_INDEX)
    await to_close_of(clock, NOW_INDEX + 1)

    burst, after = reader.candles
    expected = candles(NOW_INDEX, NOW_INDEX)[0]
    assert burst[:5] == expected[:5] and burst.volume == pytest.approx(expected.volume)    # 2,500 parts added up
    assert [after] == candles(NOW_INDEX + 1, NOW_INDEX + 1)       # and on after the burst
    asked = [r.params for r in standin.requests if r.path == "/api/v3/aggTrades"]
    assert [p["fromId"] for p in asked if "fromId" in p][:2] == [str(BURST_FIRST_ID + 1000), str(BURST_FIRST_ID + 2000)]
    await finish(feed, reader)


async def test_a_websocket_client_builds_candles_from_the_agg_trade_stream(clock, standin, pro_client):
    feed = TradeCandleFeed(pro_client, "BTC/USDT", "1m", clock=clock, grace_secs=GRACE_MS / 1000, poll_secs=60,
                           websocket=True)
    reader = await read(feed, clock)
    await eventually(lambda: standin.streams.subscriptions == 1, poll_secs=0.005)

    # One trade at a time (the stand-in makes four a candle, 15 s apart), each taken before the next.
    for trade_ms in range(candle_ms(NOW_INDEX) + 15_000, candle_ms(NOW_INDEX + 3) + 1, 15_000):
        await clock.step(trade_ms + 1 - clock.now_ms())
        await eventually(lambda: feed.last_trade_ms == trade_ms, poll_secs=0.005)
        if trade_ms % STEP_MS == 0:         # the next period's first trade closes the candle, before the grace
            await eventually(lambda: reader.candles and reader.candles[-1].ts_ms == trade_ms - STEP_MS,
                             poll_secs=0.005)

    assert reader.candles == candles(NOW_INDEX, NOW_INDEX + 2)
    assert [r.params["startTime"] for r in standin.requests if r.path == "/api/v3/aggTrades"] == [
        str(candle_ms(NOW_INDEX))]          # one catch-up at the first answer; the stream did the rest
    assert standin.streams.subscribe_messages[0]["params"] == ["btcusdt@aggTrade"]
    await finish(feed, reader)


async def test_a_websocket_feed_polls_while_the_stream_is_down(clock, standin, pro_client, log_records):
    feed = TradeCandleFeed(pro_client, "BTC/USDT", "1m", clock=clock, grace_secs=GRACE_MS / 1000, poll_secs=60,
                           websocket=True)
    reader = await read(feed, clock)
    await eventually(lambda: standin.streams.subscriptions == 1)

    await standin.drop_websockets()
    await eventually(lambda: any("websocket trades stopped" in r["message"] for r in log_records))
    await clock.settle()
    for index in range(NOW_INDEX, NOW_INDEX + 3):
        await to_close_of(clock, index)

    assert reader.candles == candles(NOW_INDEX, NOW_INDEX + 2)
    await finish(feed, reader)
