"""CcxtCandleFeed against the Binance stand-in: the real ccxt client, time moved by the test
(the stand-in's candles, `Reader` and the fixtures: standin_feeds.py and conftest.py here)."""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from market.ccxt_feed import CcxtCandleFeed
from execution.standin import BinanceStandIn
from tests.fakes import eventually
from tests.unit.market.standin_feeds import STEP_MS, Reader, candle_ms, candles, finish, read

KLINES = "GET /api/v3/klines"


def klines_requests(standin: BinanceStandIn) -> list[dict[str, str]]:
    return [r.params for r in standin.requests if r.path == "/api/v3/klines"]


@pytest.fixture
def make_feed(client, clock, close_after):
    """Build feeds on the stand-in; each is closed after the test."""
    return lambda **kwargs: close_after(CcxtCandleFeed(client, "BTC/USDT", "1m", clock=clock, **kwargs))


async def test_yields_each_closed_candle_once_in_order_as_the_clock_moves(make_feed, clock, client, standin):
    feed = make_feed()
    reader = await read(feed, clock)

    for _ in range(5):
        await clock.step(STEP_MS)
        forming = (await client.fetch_ohlcv("BTC/USDT", "1m", limit=1))[0][0]
        assert reader.candles[-1].ts_ms == forming - STEP_MS   # the exchange shows the next one forming

    assert reader.batches == [[c] for c in candles(60, 64)]
    assert len([p for p in klines_requests(standin) if "startTime" in p]) == 5   # one poll per candle
    await finish(feed, reader)


async def test_never_yields_the_candle_still_forming_even_at_the_boundary(make_feed, clock):
    feed = make_feed(poll_delay_secs=0)
    reader = await read(feed, clock)

    await clock.step(candle_ms(61) - clock.now_ms())   # candle 61 opens now: the stand-in serves it

    assert reader.candles == candles(60, 60)
    await finish(feed, reader)


async def test_history_gives_the_warm_up_and_the_stream_goes_on_right_after_it(make_feed, clock):
    feed = make_feed()

    warm = await feed.history(10)
    reader = await read(feed, clock)
    await clock.step(STEP_MS)
    await clock.step(STEP_MS)

    assert warm == candles(50, 59)
    assert reader.candles == candles(60, 61)
    await finish(feed, reader)


async def test_history_longer_than_a_page_is_fetched_page_by_page(make_feed, standin):
    feed = make_feed(limit=10)

    warm = await feed.history(25)

    assert warm == candles(35, 59)
    assert len(klines_requests(standin)) == 3


async def test_catches_up_after_a_gap_page_by_page(make_feed, clock, standin):
    feed = make_feed(limit=3)
    await feed.history(2)
    reader = await read(feed, clock)

    await clock.step(6 * STEP_MS)            # candles 60..65 closed while nothing was asked

    assert reader.candles == candles(60, 65)
    assert [len(b) for b in reader.batches] == [3, 3]
    # The second page ends with 65, and 66 is still forming: no third request.
    assert [p["startTime"] for p in klines_requests(standin)[1:]] == [str(candle_ms(60)), str(candle_ms(63))]
    await finish(feed, reader)


@pytest.mark.parametrize(("arm", "failures"), [
    (lambda s: s.fail_next(KLINES, status=500, times=3), 3),
    (lambda s: s.drop_next(KLINES, times=2), 1),     # aiohttp resends a dropped GET once by itself
    (lambda s: s.rate_limit_next(KLINES, retry_after_secs=1), 1),
], ids=["500-three-times", "dropped-connection", "429"])
async def test_survives_a_failing_exchange_and_then_yields_the_candles(make_feed, clock, standin, log_records,
                                                                        arm, failures):
    feed = make_feed(retry_initial_secs=1)
    await feed.history(1)
    reader = await read(feed, clock)
    arm(standin)

    await clock.step(STEP_MS)
    for attempt in range(failures):
        assert reader.candles == []
        await clock.step(1000 * 2 ** attempt)       # the backoff: 1 s, 2 s, 4 s

    assert reader.candles == candles(60, 60)
    assert standin.pending_faults == [] and not reader.task.done()
    warnings = [r["message"] for r in log_records if r["level"].name == "WARNING"]
    assert len(warnings) == 1 and "fetching candles failed" in warnings[0]
    assert any("fetched again after" in r["message"] for r in log_records if r["level"].name == "INFO")
    await finish(feed, reader)


async def test_an_authentication_error_ends_the_stream(make_feed, clock, standin):
    feed = make_feed()
    reader = await read(feed, clock)
    standin.fail_next(KLINES, status=401, code=-2015, msg="Invalid API-key, IP, or permissions for action.")

    clock.advance(STEP_MS)

    with pytest.raises(ccxt.AuthenticationError):
        await asyncio.wait_for(reader.task, timeout=5)


async def test_goes_stale_when_candles_stop_and_recovers_when_they_come_back(make_feed, clock, standin,
                                                                             log_records):
    seen: list[bool] = []
    feed = make_feed(stale_after_bars=3, on_stale=seen.append)
    await feed.history(1)
    reader = await read(feed, clock)
    await clock.step(STEP_MS)
    assert reader.candles == candles(60, 60) and not feed.stale

    # The exchange stops at candle 61: it still shows 61, which closes at the feed's time.
    steps = 0
    while not feed.stale and steps < 6:
        await clock.step(STEP_MS, exchange=False)
        steps += 1

    assert feed.stale and seen == [True]
    assert steps == 4 and feed.last_candle_age_secs >= 180   # 61 closed at 62; 3m later, at 65
    warnings = [r["message"] for r in log_records if r["level"].name == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("no new BTC/USDT 1m candle from binance for 3m")

    standin.advance_to(clock.now_ms())                        # the exchange is back
    await clock.step(STEP_MS)

    assert not feed.stale and seen == [True, False]
    assert reader.candles == candles(60, 65)
    assert feed.last_candle_age_secs < 60
    await finish(feed, reader)


async def test_aclose_ends_a_waiting_stream_and_leaves_the_client_open(make_feed, clock, client):
    feed = make_feed()
    reader = await read(feed, clock)

    await finish(feed, reader)

    assert reader.batches == []
    assert (await client.fetch_time()) == clock.now_ms()


async def test_a_timeframe_the_exchange_does_not_offer_is_refused(client, clock):
    with pytest.raises(ValueError, match="binance has no 7m candles"):
        CcxtCandleFeed(client, "BTC/USDT", "7m", clock=clock)


async def test_a_websocket_client_takes_closed_candles_from_the_kline_stream_not_from_polling(
        clock, standin, pro_client):
    feed = CcxtCandleFeed(pro_client, "BTC/USDT", "1m", clock=clock)
    assert await feed.history(1) == candles(59, 59)
    polled = len(klines_requests(standin))
    reader = Reader(feed)
    await eventually(lambda: standin.streams.subscriptions == 1, timeout_secs=3, poll_secs=0.005)
    for _ in range(3):
        clock.advance(STEP_MS)                        # a close: the stream pushes the candle
    await eventually(lambda: len(reader.candles) == 3, timeout_secs=3, poll_secs=0.005)

    assert reader.candles == candles(60, 62)          # each once, in order, exactly as served
    assert len(klines_requests(standin)) == polled    # nothing polled
    assert standin.streams.subscribe_messages[0]["params"] == ["btcusdt@kline_1m"]
    await finish(feed, reader)


async def test_a_websocket_client_polls_while_the_websocket_is_down_and_goes_back_to_it_later(
        clock, standin, pro_client, log_records):
    feed = CcxtCandleFeed(pro_client, "BTC/USDT", "1m", clock=clock)
    try:
        await feed.history(1)
        reader = Reader(feed)
        await eventually(lambda: standin.streams.subscriptions == 1, timeout_secs=3, poll_secs=0.005)
        clock.advance(STEP_MS)
        await eventually(lambda: len(reader.candles) == 1, timeout_secs=3, poll_secs=0.005)
        await standin.drop_websockets()                   # the exchange restarts its stream servers
        await eventually(lambda: any("polling REST, and trying the websocket again in 10m" in r["message"]
                                     for r in log_records), timeout_secs=3, poll_secs=0.005)
        await clock.step(STEP_MS)
        await clock.step(STEP_MS)
        assert reader.candles == candles(60, 62)          # none lost or doubled across the switch
        assert klines_requests(standin)[-1]["startTime"] == str(candle_ms(62))

        for _ in range(7):
            await clock.step(STEP_MS)
        clock.advance(STEP_MS)                            # ten minutes after the failure
        await eventually(lambda: standin.streams.subscriptions == 1, timeout_secs=3, poll_secs=0.005)
        polled = len(klines_requests(standin))
        clock.advance(STEP_MS)
        await eventually(lambda: len(reader.candles) == 12, timeout_secs=3, poll_secs=0.005)
        assert reader.candles == candles(60, 71)
        assert len(klines_requests(standin)) == polled    # by websocket again
        await finish(feed, reader)
    finally:
        await feed.aclose()


async def test_a_rate_limit_is_asked_again_no_sooner_than_its_retry_after(make_feed, clock, standin, log_records):
    # Before: asked again after the backoff's 1 s, 2 s, 4 s ... inside the exchange's 30 s, the
    # requests Binance answers with an IP ban (418) that stops every bot of the address.
    feed = make_feed(retry_initial_secs=1)
    await feed.history(1)
    reader = await read(feed, clock)
    standin.rate_limit_next(KLINES, retry_after_secs=30)

    await clock.step(STEP_MS)
    asked = len(klines_requests(standin))
    for _ in range(29):
        await clock.step(1000)
    assert len(klines_requests(standin)) == asked and reader.candles == []
    await clock.step(1000)

    assert reader.candles == candles(60, 60) and standin.pending_faults == []
    assert any("the exchange asks to wait 30s" in r["message"] for r in log_records if r["level"].name == "WARNING")
    await finish(feed, reader)
