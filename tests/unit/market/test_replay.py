"""ReplayProvider: warm-up through history(), the rest streamed in batches, aclose() stops."""

from __future__ import annotations

import asyncio

from market.replay import ReplayProvider
from market.synthetic import generate_candles

CANDLES = generate_candles(count=10)


async def collect(feed: ReplayProvider) -> list[list]:
    return [list(batch) async for batch in feed.stream()]


async def test_stream_yields_batches_of_at_most_batch_size_never_empty():
    batches = await collect(ReplayProvider("BTC/USDT", "1m", CANDLES, batch_size=4))

    assert [len(b) for b in batches] == [4, 4, 2]
    assert [c for b in batches for c in b] == CANDLES


async def test_warmup_candles_go_to_history_and_not_to_the_stream():
    feed = ReplayProvider("BTC/USDT", "1m", CANDLES, warmup=3, batch_size=100)

    assert await feed.history(2) == CANDLES[1:3]
    assert await feed.history(50) == CANDLES[:3]
    assert await feed.history(0) == []
    assert await collect(feed) == [CANDLES[3:]]


async def test_each_candle_is_streamed_once_across_streams():
    feed = ReplayProvider("BTC/USDT", "1m", CANDLES, batch_size=4)
    async for _ in feed.stream():
        break

    assert [c for b in await collect(feed) for c in b] == CANDLES[4:]


async def test_aclose_stops_a_stream_in_progress():
    feed = ReplayProvider("BTC/USDT", "1m", CANDLES, batch_size=2)
    seen = []
    async for batch in feed.stream():
        seen.append(batch)
        await feed.aclose()

    assert seen == [CANDLES[:2]]


async def test_closing_as_a_context_manager_ends_the_stream():
    async with ReplayProvider("BTC/USDT", "1m", CANDLES) as feed:
        assert feed.symbol == "BTC/USDT" and feed.timeframe == "1m"

    assert await collect(feed) == []


async def test_the_stream_lets_other_tasks_run_between_batches():
    other_ran = asyncio.Event()

    async def other() -> None:
        other_ran.set()

    task = asyncio.create_task(other())
    feed = ReplayProvider("BTC/USDT", "1m", CANDLES, batch_size=5)
    seen_during = [other_ran.is_set() async for _ in feed.stream()]
    await task

    assert seen_during == [True, True]


async def test_pace_is_awaited_before_each_batch():
    paced = []

    async def pace(batch) -> None:
        paced.append(batch[0].ts_ms)

    feed = ReplayProvider("BTC/USDT", "1m", CANDLES, batch_size=6, pace=pace)
    await collect(feed)

    assert paced == [CANDLES[0].ts_ms, CANDLES[6].ts_ms]
