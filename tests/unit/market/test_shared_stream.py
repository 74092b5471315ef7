"""SharedCandleStream, StreamCursor and FeedHub: one releaser, many bots each at its own pace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import pytest

from market.config import CsvSource, SyntheticSource
from market.models import Candle
from market.shared import FeedHub, SharedCandleStream, StreamCursor, feed_key_for
from market.synthetic import generate_candles
from tests.fakes import eventually

CANDLES = generate_candles(count=10)


class SteppedClock:
    """Time that moves only when the test calls `advance`; `sleep` waits for it, as it would for
    real time. (`runner.bot.clock.ManualClock` jumps ahead on `sleep`, which a paced test cannot use.)"""

    def __init__(self) -> None:
        self._now_ms = 0
        self._moved = asyncio.Event()
        self.sleepers = 0

    def now_ms(self) -> int:
        return self._now_ms

    async def sleep(self, seconds: float) -> None:
        until = self._now_ms + seconds * 1000
        self.sleepers += 1
        try:
            while self._now_ms < until:
                await self._moved.wait()
        finally:
            self.sleepers -= 1

    def advance(self, ms: int) -> None:
        self._now_ms += ms
        self._moved.set()
        self._moved = asyncio.Event()


async def collect(cursor: StreamCursor) -> list[list[Candle]]:
    return [list(batch) async for batch in cursor.stream()]


@pytest.fixture
async def make_stream():
    """Build a SharedCandleStream; every one made is closed after the test."""
    made: list[SharedCandleStream] = []

    def make(candles=CANDLES, **kwargs) -> SharedCandleStream:
        made.append(SharedCandleStream("BTC/USDT", "1m", candles, **kwargs))
        return made[-1]

    yield make
    for stream in made:
        await stream.aclose()


@pytest.fixture
async def hub():
    hub = FeedHub()
    yield hub
    await hub.aclose()


async def test_every_cursor_gets_every_candle_in_order_exactly_once(make_stream):
    stream = make_stream()
    cursors = [stream.subscribe(batch_size=3) for _ in range(5)]
    await stream.start()

    results = await asyncio.gather(*(collect(c) for c in cursors))

    for batches in results:
        assert [len(b) for b in batches] == [3, 3, 3, 1]
        assert [c for b in batches for c in b] == CANDLES
    assert all(c.position == len(CANDLES) for c in cursors)
    assert stream.released == len(CANDLES)


async def test_a_slow_cursor_does_not_delay_the_others(make_stream):
    stream = make_stream()
    slow, fast = stream.subscribe(batch_size=2), [stream.subscribe(batch_size=2) for _ in range(3)]
    may_consume = asyncio.Event()
    slow_seen: list[Candle] = []

    async def consume_slowly() -> None:
        async for batch in slow.stream():
            await may_consume.wait()
            slow_seen.extend(batch)

    await stream.start()
    slow_task = asyncio.create_task(consume_slowly())
    fast_results = await asyncio.gather(*(collect(c) for c in fast))

    assert all([c for b in r for c in b] == CANDLES for r in fast_results)
    assert slow_seen == [] and not slow_task.done()
    may_consume.set()
    await asyncio.wait_for(slow_task, timeout=1)
    assert slow_seen == CANDLES


async def test_a_cursor_starts_at_its_index_and_history_holds_what_came_before(make_stream):
    stream = make_stream()
    cursor = stream.subscribe(start_index=6)
    await stream.start()

    assert await cursor.history(4) == CANDLES[2:6]
    assert await cursor.history(100) == CANDLES[:6]
    assert await cursor.history(0) == []
    assert cursor.position == 6
    assert [c for b in await collect(cursor) for c in b] == CANDLES[6:]


async def test_a_second_stream_call_continues_where_the_first_stopped(make_stream):
    stream = make_stream()
    cursor = stream.subscribe(batch_size=4)
    await stream.start()
    async for _ in cursor.stream():
        break

    assert cursor.position == 4
    assert [c for b in await collect(cursor) for c in b] == CANDLES[4:]


async def test_fast_mode_lets_other_tasks_run_between_batches(make_stream):
    other_ran = asyncio.Event()
    stream = make_stream()
    cursor = stream.subscribe(batch_size=5)
    await stream.start()
    await asyncio.sleep(0)  # the releaser has run; from here on only the cursor can yield

    async def other() -> None:
        other_ran.set()

    task = asyncio.create_task(other())
    seen_during = [other_ran.is_set() async for _ in cursor.stream()]
    await task

    assert seen_during == [True, True]


async def test_paced_release_follows_the_clock_at_the_given_speed(make_stream):
    clock = SteppedClock()
    stream = make_stream(speed=60, clock=clock)  # a 1m candle per second
    await stream.start()

    await eventually(lambda: clock.sleepers == 1)
    assert stream.released == 1  # the first candle goes out at once

    clock.advance(999)
    await eventually(lambda: clock.sleepers == 1)
    assert stream.released == 1

    clock.advance(1)
    await eventually(lambda: stream.released == 2 and clock.sleepers == 1)

    clock.advance(3000)
    await eventually(lambda: stream.released == 5 and clock.sleepers == 1)

    clock.advance(60_000)
    await eventually(lambda: stream.finished)
    assert stream.released == len(CANDLES)


async def test_paced_stream_resumed_at_a_candle_releases_what_came_before_at_once():
    clock = SteppedClock()
    stream = SharedCandleStream("BTC/USDT", "1m", generate_candles(count=30), speed=60, clock=clock, resume_from=10)
    await stream.start()
    await eventually(lambda: clock.sleepers == 1)
    assert stream.released == 11          # candles 0..9 at once, then candle 10 on time
    clock.advance(1000)
    await eventually(lambda: stream.released == 12 and clock.sleepers == 1)
    await stream.aclose()


async def test_paced_release_keeps_the_gaps_in_the_data(make_stream):
    clock = SteppedClock()
    minute = 60_000
    gappy = [CANDLES[0], CANDLES[1]._replace(ts_ms=CANDLES[0].ts_ms + 5 * minute)]
    stream = make_stream(gappy, speed=60, clock=clock)
    await stream.start()
    await eventually(lambda: clock.sleepers == 1)

    clock.advance(4000)
    await eventually(lambda: clock.sleepers == 1)
    assert stream.released == 1
    clock.advance(1000)
    await eventually(lambda: stream.finished and stream.released == 2)


async def test_a_caught_up_cursor_waits_for_the_next_release(make_stream):
    clock = SteppedClock()
    stream = make_stream(speed=60, clock=clock)
    cursor = stream.subscribe()
    await stream.start()
    batches = cursor.stream()

    assert list(await anext(batches)) == CANDLES[:1]
    waiting = asyncio.create_task(anext(batches))
    await eventually(lambda: clock.sleepers == 1)
    assert not waiting.done()

    clock.advance(2000)
    assert list(await asyncio.wait_for(waiting, timeout=1)) == CANDLES[1:3]  # both came due
    await batches.aclose()


async def test_latency_is_recorded_once_per_release_after_every_cursor_moved_past_it(make_stream):
    clock = SteppedClock()
    stream = make_stream(speed=60, clock=clock)
    first, second = stream.subscribe(), stream.subscribe()
    await stream.start()
    first_batches, second_batches = first.stream(), second.stream()

    assert list(await anext(first_batches)) == CANDLES[:1]
    assert list(await anext(second_batches)) == CANDLES[:1]
    assert stream.release_latencies == []   # both still hold candle 0

    first_waits = asyncio.create_task(anext(first_batches))  # asks for more: done with candle 0
    await asyncio.sleep(0)                  # let it ask, then wait for candle 1
    assert not first_waits.done()
    assert stream.release_latencies == []   # `second` has not asked yet

    second_waits = asyncio.create_task(anext(second_batches))
    await eventually(lambda: len(stream.release_latencies) == 1)

    clock.advance(1000)                     # candle 1
    assert [list(b) for b in await asyncio.wait_for(asyncio.gather(first_waits, second_waits), 1)] \
        == [CANDLES[1:2], CANDLES[1:2]]
    await second.aclose()                   # closing counts as moving past
    assert len(stream.release_latencies) == 1

    first_waits = asyncio.create_task(anext(first_batches))
    await eventually(lambda: len(stream.release_latencies) == 2)
    assert all(seconds >= 0 for seconds in stream.release_latencies)
    assert stream.released == 2
    first_waits.cancel()
    await asyncio.wait({first_waits})


async def test_fast_mode_records_one_latency_when_the_last_cursor_finishes(make_stream):
    stream = make_stream()
    cursors = [stream.subscribe(batch_size=3) for _ in range(3)]
    await stream.start()

    await collect(cursors[0])
    await collect(cursors[1])
    assert stream.release_latencies == []
    await collect(cursors[2])

    assert len(stream.release_latencies) == 1


async def test_a_late_subscriber_is_not_counted_in_earlier_releases(make_stream):
    stream = make_stream()
    early = stream.subscribe()
    await stream.start()
    await collect(early)
    assert len(stream.release_latencies) == 1

    late = stream.subscribe()
    assert [c for b in await collect(late) for c in b] == CANDLES
    assert len(stream.release_latencies) == 1


async def test_closing_a_cursor_ends_its_waiting_stream(make_stream):
    clock = SteppedClock()
    stream = make_stream(speed=60, clock=clock)
    cursor = stream.subscribe()
    await stream.start()
    consuming = asyncio.create_task(collect(cursor))
    await eventually(lambda: cursor.position == 1)

    await cursor.aclose()

    assert await asyncio.wait_for(consuming, timeout=1) == [CANDLES[:1]]
    assert cursor.closed and stream.subscribers == 0


async def test_closing_the_stream_stops_releasing_and_cursors_end_after_what_was_released(make_stream):
    clock = SteppedClock()
    stream = make_stream(speed=60, clock=clock)
    cursor = stream.subscribe()
    await stream.start()
    await eventually(lambda: clock.sleepers == 1)

    await stream.aclose()

    assert stream.finished and stream.released == 1
    assert await asyncio.wait_for(collect(cursor), timeout=1) == [CANDLES[:1]]


async def test_the_hub_loads_once_per_key_and_shares_the_stream(hub, tmp_path: Path):
    loads: list[str] = []

    def loader(name: str, candles: list[Candle]) -> Callable[[], list[Candle]]:
        def load() -> list[Candle]:
            loads.append(name)
            return candles
        return load

    config = SyntheticSource(source="synthetic", seed=7, bars=10)
    btc = feed_key_for(config, "BTC/USDT", "1m", None)
    eth = feed_key_for(config, "ETH/USDT", "1m", None)
    other = generate_candles(count=5, seed=3)

    a, b = await asyncio.gather(hub.subscribe(btc, loader("btc", CANDLES)),
                                hub.subscribe(btc, loader("btc", CANDLES)))
    c = await hub.subscribe(btc, loader("btc", CANDLES), start_index=4)
    d = await hub.subscribe(eth, loader("eth", other))

    assert loads == ["btc", "eth"]
    assert set(hub.streams()) == {btc, eth}
    assert hub.streams()[btc] is not hub.streams()[eth]
    assert [c_ for bt in await collect(a) for c_ in bt] == CANDLES
    assert [c_ for bt in await collect(b) for c_ in bt] == CANDLES
    assert [c_ for bt in await collect(c) for c_ in bt] == CANDLES[4:]
    assert [c_ for bt in await collect(d) for c_ in bt] == other


async def test_a_failed_load_reaches_the_subscriber_and_the_next_one_retries(hub):
    key = feed_key_for(SyntheticSource(source="synthetic"), "BTC/USDT", "1m", None)

    def broken() -> list[Candle]:
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        await hub.subscribe(key, broken)
    cursor = await hub.subscribe(key, lambda: CANDLES)

    assert [c for b in await collect(cursor) for c in b] == CANDLES


async def test_the_hub_refuses_a_speed_that_is_not_the_keys(hub):
    key = feed_key_for(SyntheticSource(source="synthetic"), "BTC/USDT", "1m", 60)

    with pytest.raises(ValueError, match="speed"):
        await hub.subscribe(key, lambda: CANDLES, speed=None)


def test_feed_keys_match_for_the_same_data_and_differ_otherwise(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jan10 = datetime(2022, 1, 10, tzinfo=UTC)
    config = CsvSource(source="csv", path=Path("data/btc.csv"), start=jan10)

    def key(cfg=config, speed=None, **kwargs):
        return feed_key_for(cfg, "BTC/USDT", "1m", speed, **kwargs)

    same_file_absolute = CsvSource(source="csv", path=tmp_path / "data" / "btc.csv",
                                   start=datetime(2022, 1, 10))  # naive means UTC
    assert key() == key(same_file_absolute)
    assert hash(key()) == hash(key(same_file_absolute))
    assert key() != key(CsvSource(source="csv", path=Path("data/eth.csv"), start=jan10))
    assert key() != key(CsvSource(source="csv", path=Path("data/btc.csv")))
    assert key() != key(CsvSource(source="csv", path=Path("data/btc.csv"), start=jan10,
                                  end=datetime(2022, 1, 20, tzinfo=UTC)))
    assert key() != key(speed=60)
    assert key() != key(start=datetime(2022, 1, 11, tzinfo=UTC))
    assert key() != feed_key_for(config, "BTC/USDT", "5m", None)

    synthetic = SyntheticSource(source="synthetic", seed=7, bars=100)
    assert key(synthetic) == key(SyntheticSource(source="synthetic", seed=7, bars=100))
    assert key(synthetic) != key(SyntheticSource(source="synthetic", seed=8, bars=100))
