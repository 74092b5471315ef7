"""The real ccxt client reads markets, candles, tickers and the book from the stand-in."""

from __future__ import annotations

import ccxt
import pytest

from execution.standin import BinanceStandIn, SymbolRules, make_ccxt_client

from .sample_market import NOW_INDEX, STEP_MS, T0_MS, candle_ms, close_at, make_candles


async def test_load_markets_takes_precision_and_limits_from_the_filters(exchange):
    market = (await exchange.load_markets())["BTC/USDT"]

    assert (market["id"], market["type"], market["spot"], market["active"]) == ("BTCUSDT", "spot", True, True)
    assert market["precision"] == {"amount": 0.00001, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert market["limits"]["amount"] == {"min": 0.00001, "max": 9000.0}
    assert market["limits"]["price"] == {"min": 0.01, "max": 1_000_000.0}
    assert market["limits"]["cost"] == {"min": 5.0, "max": 9_000_000.0}


async def test_load_markets_reads_custom_rules_and_the_legacy_min_notional_filter():
    rules = SymbolRules(tick_size="0.1", min_price="0.1", step_size="0.001", min_qty="0.001", min_notional=10,
                        notional_filter="MIN_NOTIONAL")
    async with BinanceStandIn(make_candles(), symbol="ETH/BTC", rules=rules) as standin:
        exchange = make_ccxt_client(standin)
        try:
            market = (await exchange.load_markets())["ETH/BTC"]
        finally:
            await exchange.close()

    assert market["precision"]["price"] == 0.1 and market["precision"]["amount"] == 0.001
    assert market["limits"]["cost"]["min"] == 10.0


async def test_load_markets_asks_only_for_spot_exchange_info(exchange, standin):
    await exchange.load_markets()

    assert [(r.method, r.path) for r in standin.requests] == [("GET", "/api/v3/exchangeInfo")]
    assert standin.unserved == []


async def test_without_the_stand_in_options_ccxt_also_asks_for_futures_markets(standin):
    exchange = make_ccxt_client(standin, fetchMarkets={"types": ["spot", "linear", "inverse"]})
    try:
        with pytest.raises(ccxt.ExchangeNotAvailable):     # the 404 from the stand-in
            await exchange.load_markets()
    finally:
        await exchange.close()

    assert {r.path for r in standin.unserved} == {"/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"}


async def test_fetch_ohlcv_serves_only_candles_opened_by_the_clock(exchange, standin):
    seen = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=1000)
    standin.advance(STEP_MS)
    later = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=1000)

    assert len(seen) == NOW_INDEX + 1
    assert seen[-1][0] == standin.now_ms - STEP_MS and seen[-1][4] == close_at(NOW_INDEX)
    assert len(later) == NOW_INDEX + 2 and later[-1][0] == standin.now_ms


async def test_fetch_ohlcv_pages_forward_by_since_and_limit(exchange, standin):
    pages, since = [], T0_MS
    for _ in range(10):                                   # bounded: 61 candles in pages of 25
        page = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=25)
        if not page:
            break
        pages.append(page)
        since = page[-1][0] + STEP_MS

    assert [len(p) for p in pages] == [25, 25, 11]
    assert [c[0] for p in pages for c in p] == [candle_ms(i) for i in range(NOW_INDEX + 1)]
    assert [r.params.get("startTime") for r in standin.requests if r.path == "/api/v3/klines"][:2] == [
        str(T0_MS), str(T0_MS + 25 * STEP_MS)]


async def test_fetch_ohlcv_without_since_returns_the_latest_candles(exchange):
    latest = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)

    assert [c[0] for c in latest] == [candle_ms(i) for i in (NOW_INDEX - 2, NOW_INDEX - 1, NOW_INDEX)]


async def test_fetch_ohlcv_builds_coarser_candles_and_the_last_one_is_still_forming(exchange):
    candles = await exchange.fetch_ohlcv("BTC/USDT", "5m", limit=1000)

    assert len(candles) == 13 and candles[-1][0] == candle_ms(NOW_INDEX)
    assert candles[-1][1] == close_at(NOW_INDEX - 1) and candles[-1][4] == close_at(NOW_INDEX)
    assert candles[0][1:5] == [30_000.0, 30_065.0, 29_975.0, 30_040.0]


async def test_an_interval_binance_does_not_have_is_a_bad_request(exchange):
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        await exchange.fetch_ohlcv("BTC/USDT", "7m")


async def test_weekly_klines_open_on_monday_as_binance_cuts_them():
    # Hourly candles from Friday 2023-12-29 00:00 UTC for 20 days: weeks open on Mondays 12-25,
    # 01-01, 01-08 and 01-15 (counted from the epoch, a Thursday, they would open on Thursdays).
    friday_ms, hour_ms = 1_703_808_000_000, 3_600_000
    hourly = [[friday_ms + i * hour_ms, 100 + i, 101 + i, 99 + i, 100.5 + i, 1] for i in range(20 * 24)]
    async with BinanceStandIn(hourly, start_ms=hourly[-1][0]) as standin:
        exchange = make_ccxt_client(standin)
        try:
            weeks = await exchange.fetch_ohlcv("BTC/USDT", "1w")
        finally:
            await exchange.close()

    monday_ms = 1_704_067_200_000                               # 2024-01-01 00:00 UTC
    assert [w[0] for w in weeks] == [monday_ms - 7 * 86_400_000 + k * 7 * 86_400_000 for k in range(4)]
    first_of_2024 = (monday_ms - friday_ms) // hour_ms
    assert weeks[1][1] == hourly[first_of_2024][1]              # the week opens at Monday's first hour
    assert weeks[1][4] == hourly[first_of_2024 + 7 * 24 - 1][4]  # and closes at Sunday's last


async def test_ticker_and_book_quote_half_the_spread_around_the_last_close(exchange):
    ticker = await exchange.fetch_ticker("BTC/USDT")
    book = await exchange.fetch_order_book("BTC/USDT", limit=5)

    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (30_600.0, 30_596.94, 30_603.06)
    assert book["bids"][0] == [30_596.94, 5.0] and book["asks"][0] == [30_603.06, 5.0]
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["asks"][1][0] == 30_603.07


async def test_fetch_time_reports_the_stand_in_clock(exchange, standin):
    standin.advance_to(candle_ms(70) + 1234)

    assert await exchange.fetch_time() == candle_ms(70) + 1234


async def test_the_clock_only_moves_forward(standin):
    with pytest.raises(ValueError, match="only moves forward"):
        standin.advance_to(T0_MS)
