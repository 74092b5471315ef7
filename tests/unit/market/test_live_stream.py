"""Live candles shared by many bots: `LiveCandleStream` (append, end, bounded memory) and
`FeedHub.subscribe_live` (one upstream per key), the latter over a real ccxt client and the
Binance stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import pytest

from market.ccxt_feed import CcxtCandleFeed
from market.models import Candle
from market.live_stream import TRIM_SLACK
from market.shared import FeedHub, LiveCandleStream, StreamCursor, live_feed_key
from market.synthetic import generate_candles
from execution.standin import BinanceStandIn, SteppedExchangeClock
from tests.fakes import eventually
from tests.unit.market.standin_feeds import STEP_MS, candles

CANDLES = generate_candles(count=40)
KEY = live_feed_key("binance", "main", "BTC/USDT", "1m")


class Reader:
    """Reads a cursor's stream in a task, keeping every candle."""

    def __init__(self, cursor: StreamCursor) -> None:
        self.candles: list[Candle] = []
        self.task = asyncio.create_task(self._read(cursor))

    async def _read(self, cursor: StreamCursor) -> None:
        async for batch in cursor.stream():
            self.candles.extend(batch)


# -- LiveCandleStream ----------------------------------------------------------------------------


@pytest.fixture
async def live():
    made: list[LiveCandleStream] = []

    def make(**kwargs: Any) -> LiveCandleStream:
        made.append(LiveCandleStream("BTC/USDT", "1m", **kwargs))
        return made[-1]

    yield make
    for stream in made:
        await stream.aclose()


async def test_appended_candles_reach_every_cursor_once_in_order(live):
    stream = live()
    readers = [Reader(stream.subscribe(stream.released)) for _ in range(3)]

    for i in range(0, 30, 3):
        stream.append(CANDLES[i:i + 3])
        await asyncio.sleep(0)
    stream.end()
    await asyncio.wait_for(asyncio.gather(*(r.task for r in readers)), timeout=1)

    assert all(r.candles == CANDLES[:30] for r in readers)


async def test_a_cursor_joining_later_starts_at_the_live_edge_with_history_before_it(live):
    stream = live(keep_history=10)
    stream.append(CANDLES[:20])

    cursor = stream.subscribe(stream.released)
    reader = Reader(cursor)
    stream.append(CANDLES[20:25])
    stream.end()
    await asyncio.wait_for(reader.task, timeout=1)

    assert await cursor.history(5) == CANDLES[15:20]
    assert reader.candles == CANDLES[20:25]


async def test_append_drops_candles_not_newer_than_the_last(live, log_records):
    stream = live()
    reader = Reader(stream.subscribe(stream.released))
    stream.append(CANDLES[:5])

    stream.append([CANDLES[3], CANDLES[4], CANDLES[5]])
    stream.end()
    await asyncio.wait_for(reader.task, timeout=1)

    assert stream.released == 6 and reader.candles == CANDLES[:6]
    assert any("dropped 2 candles" in r["message"] for r in log_records if r["level"].name == "WARNING")


async def test_append_after_end_is_an_error(live):
    stream = live()
    stream.end()

    with pytest.raises(RuntimeError, match="has ended"):
        stream.append(CANDLES[:1])


async def test_each_append_read_by_every_cursor_is_measured(live):
    stream = live()
    readers = [Reader(stream.subscribe(stream.released)) for _ in range(2)]
    await asyncio.sleep(0)

    for candle in CANDLES[:4]:
        stream.append([candle])
        await eventually(lambda: all(len(r.candles) == stream.released for r in readers), timeout_secs=5)
    stream.end()
    await asyncio.wait_for(asyncio.gather(*(r.task for r in readers)), timeout=1)

    assert len(stream.release_latencies) == 4
    assert all(0 <= s < 1 for s in stream.release_latencies)


async def test_memory_holds_the_warm_up_and_what_a_slow_cursor_has_not_read(live):
    stream = live(keep_history=5)
    slow = stream.subscribe(stream.released, batch_size=1000)
    fast = Reader(stream.subscribe(stream.released))

    for candle in generate_candles(count=300):
        stream.append([candle])
    await eventually(lambda: len(fast.candles) == 300, timeout_secs=5)

    assert stream.held == 300                       # the slow cursor has read nothing yet
    reading = slow.stream()
    slow_read = list(await anext(reading))
    await reading.aclose()
    stream.append(generate_candles(count=1, start_ms=CANDLES[0].ts_ms + 300 * STEP_MS))

    assert len(slow_read) == 300
    assert stream.held <= 5 + 1                      # the warm-up and the candle not yet read
    await slow.aclose()


async def test_a_stream_whose_cursors_keep_up_holds_its_warm_up_and_at_most_a_trims_slack_more(live):
    stream = live(keep_history=5)
    reader = Reader(stream.subscribe(stream.released))
    held = []
    for candle in generate_candles(count=3 * TRIM_SLACK):
        stream.append([candle])
        await eventually(lambda: len(reader.candles) == stream.released, timeout_secs=5)
        held.append(stream.held)

    assert max(held) <= 5 + TRIM_SLACK              # trimmed once in TRIM_SLACK candles, not per candle
    assert min(held[TRIM_SLACK:]) <= 5 + 1          # each trim keeps only the warm-up and the newest
    assert len(set(held)) > 2                       # it grew between trims


# -- FeedHub.subscribe_live over the stand-in (its candles: standin_feeds.py) -------------------


@pytest.fixture
async def hub():
    hub = FeedHub()
    yield hub
    await hub.aclose()


class FeedFactory:
    """`make_feed` for `subscribe_live`: CcxtCandleFeeds on the stand-in, all on one clock."""

    def __init__(self, client: Any, clock: SteppedExchangeClock) -> None:
        self.client, self.clock = client, clock
        self.feeds: list[CcxtCandleFeed] = []

    def __call__(self) -> CcxtCandleFeed:
        self.feeds.append(CcxtCandleFeed(self.client, "BTC/USDT", "1m", clock=self.clock))
        return self.feeds[-1]


@pytest.fixture
def make_feed(client, standin) -> FeedFactory:
    return FeedFactory(client, SteppedExchangeClock(standin))


def klines(standin: BinanceStandIn) -> int:
    return sum(r.path == "/api/v3/klines" for r in standin.requests)


async def test_two_bots_on_one_key_share_one_upstream(hub, make_feed, standin):
    first = await hub.subscribe_live(KEY, make_feed, warmup=5)
    second = await hub.subscribe_live(KEY, make_feed, warmup=5)
    readers = [Reader(first), Reader(second)]
    await eventually(lambda: make_feed.clock.sleeping, timeout_secs=5)

    for _ in range(3):
        await make_feed.clock.step(STEP_MS)
    await eventually(lambda: all(len(r.candles) == 3 for r in readers), timeout_secs=5)

    assert len(make_feed.feeds) == 1
    assert klines(standin) == 1 + 3                 # the warm-up, then one poll per candle: not doubled
    for cursor, reader in zip((first, second), readers):
        assert await cursor.history(5) == candles(55, 59)
        assert reader.candles == candles(60, 62)


async def test_a_bot_joining_later_starts_at_the_next_candle_without_overlap(hub, make_feed):
    first = await hub.subscribe_live(KEY, make_feed, warmup=5)
    early = Reader(first)
    await eventually(lambda: make_feed.clock.sleeping, timeout_secs=5)
    await make_feed.clock.step(STEP_MS)
    await make_feed.clock.step(STEP_MS)
    await eventually(lambda: len(early.candles) == 2, timeout_secs=5)

    second = await hub.subscribe_live(KEY, make_feed, warmup=5)
    late = Reader(second)
    await make_feed.clock.step(STEP_MS)
    await eventually(lambda: len(late.candles) == 1, timeout_secs=5)

    assert await second.history(5) == candles(57, 61)
    assert late.candles == candles(62, 62)
    assert early.candles == candles(60, 62)


async def test_a_longer_warm_up_than_the_stream_holds_is_fetched_once_for_that_bot(hub, make_feed, standin):
    await hub.subscribe_live(KEY, make_feed, warmup=5)
    before = klines(standin)

    second = await hub.subscribe_live(KEY, make_feed, warmup=20)

    assert await second.history(20) == candles(40, 59)
    assert klines(standin) == before + 1
    assert hub.streams()[KEY].upstream is make_feed.feeds[0]   # the extra feed only fetched history


async def test_the_upstream_stops_with_its_last_bot_and_the_next_bot_starts_a_new_one(hub, make_feed):
    cursor = await hub.subscribe_live(KEY, make_feed, warmup=2)
    stream = hub.streams()[KEY]

    await cursor.aclose()
    await eventually(lambda: make_feed.feeds[0].closed, timeout_secs=5)

    assert stream.finished
    again = await hub.subscribe_live(KEY, make_feed, warmup=2)
    assert hub.streams()[KEY] is not stream and len(make_feed.feeds) == 2
    assert await again.history(2) == candles(58, 59)


async def test_a_history_error_reaches_the_subscriber_and_the_next_one_tries_again(hub, make_feed, standin):
    standin.fail_next("GET /api/v3/klines", status=401, code=-2015, msg="Invalid API-key, IP, or permissions.")

    with pytest.raises(ccxt.AuthenticationError):
        await hub.subscribe_live(KEY, make_feed, warmup=3)

    assert KEY not in hub.streams()
    cursor = await hub.subscribe_live(KEY, make_feed, warmup=3)
    assert await cursor.history(3) == candles(57, 59)


async def test_closing_the_hub_stops_the_upstream_and_ends_the_cursors(hub, make_feed):
    cursor = await hub.subscribe_live(KEY, make_feed, warmup=1)
    reader = Reader(cursor)
    stream = hub.streams()[KEY]

    await hub.aclose()
    await asyncio.wait_for(reader.task, timeout=1)

    assert stream.finished and make_feed.feeds[0].closed
