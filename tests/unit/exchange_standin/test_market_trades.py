"""The stand-in's market trades: Binance's /api/v3/trades and /api/v3/aggTrades, read by real ccxt,
agreeing with the klines it serves."""

from __future__ import annotations

import asyncio

import aiohttp
import ccxt
import ccxt.pro
import pytest

from execution.standin import STANDIN_OPTIONS
from tests.fakes import eventually
from tests.unit.market.standin_feeds import on_standin

from .sample_market import NOW_INDEX, STEP_MS, candle_ms


async def test_the_trades_of_each_period_make_the_kline_the_stand_in_serves(exchange):
    klines = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=candle_ms(10), limit=20)
    trades = await exchange.fetch_trades("BTC/USDT", since=candle_ms(10), limit=1000)

    by_period: dict[int, list[dict]] = {}
    for trade in trades:
        by_period.setdefault(trade["timestamp"] - trade["timestamp"] % STEP_MS, []).append(trade)
    for ts, o, h, low, c, v in klines:
        period = by_period[ts]
        prices = [t["price"] for t in period]
        assert (prices[0], max(prices), min(prices), prices[-1]) == (o, h, low, c)
        assert sum(t["amount"] for t in period) == pytest.approx(v, abs=1e-12)


async def test_only_trades_whose_time_has_come_are_served_newest_last(exchange, standin):
    recent = await exchange.fetch_trades("BTC/USDT", limit=3)
    standin.advance(STEP_MS // 2)
    later = await exchange.fetch_trades("BTC/USDT", limit=3)

    assert all(t["timestamp"] <= candle_ms(NOW_INDEX) for t in recent)
    assert recent[-1]["timestamp"] == candle_ms(NOW_INDEX)           # the open of the candle just opened
    assert later[-1]["timestamp"] == candle_ms(NOW_INDEX) + STEP_MS // 2
    assert [r.path for r in standin.requests if "Trades" in r.path] == ["/api/v3/aggTrades"] * 2


async def test_from_id_pages_on_from_that_trade(exchange):
    first = await exchange.fetch_trades("BTC/USDT", since=candle_ms(0), limit=5)
    more = await exchange.fetch_trades("BTC/USDT", limit=5, params={"fromId": int(first[-1]["id"]) + 1})

    assert [int(t["id"]) for t in first + more] == list(range(1, 11))


async def test_recent_trades_come_from_the_trades_endpoint_with_its_fields(standin):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.base_url}/api/v3/trades", params={"symbol": "BTCUSDT", "limit": "2"}) as reply:
            body = await reply.json()
            weight = reply.headers["X-MBX-USED-WEIGHT-1M"]

    assert [set(t) for t in body] == [{"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}] * 2
    assert body[-1]["time"] == candle_ms(NOW_INDEX) and weight == "25"


@pytest.mark.parametrize(("params", "code", "msg"), [
    ({"startTime": str(candle_ms(0)), "endTime": str(candle_ms(0) + 3_600_001)}, -1127,
     "More than 1 hours between startTime and endTime."),
    ({"fromId": "3", "startTime": str(candle_ms(0))}, -1128, "Combination of optional parameters invalid."),
    ({"fromId": "x"}, -1100, "Illegal characters found in parameter 'fromId'"),
    ({"since": "1"}, -1104, "Not all sent parameters were read"),
])
async def test_bad_agg_trades_requests_get_binances_errors(standin, params, code, msg):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.base_url}/api/v3/aggTrades", params={"symbol": "BTCUSDT", **params}) as reply:
            body = await reply.json()

    assert reply.status == 400 and body["code"] == code and body["msg"].startswith(msg)


async def test_ccxt_maps_a_window_longer_than_an_hour_to_bad_request(exchange):
    with pytest.raises(ccxt.BadRequest):
        await exchange.fetch_trades("BTC/USDT", since=candle_ms(0), params={"until": candle_ms(0) + 2 * 3_600_000})


async def test_the_trade_stream_pushes_each_trade_as_the_clock_passes_it(standin):
    pro = ccxt.pro.binance({"options": dict(STANDIN_OPTIONS), "timeout_on_exit": 0, "timeout": 5_000})
    pro.urls["api"] = on_standin(pro.urls["api"], standin.base_url, standin.base_url.replace("http", "ws", 1))
    try:
        watching = asyncio.ensure_future(pro.watch_trades("BTC/USDT"))          # `btcusdt@trade`
        await eventually(lambda: standin.streams.subscriptions == 1, poll_secs=0.005)
        standin.advance(15_000)
        [pushed] = await asyncio.wait_for(watching, 5)
        [served] = await pro.fetch_trades("BTC/USDT", since=candle_ms(NOW_INDEX) + 1, limit=1)
    finally:
        await pro.close()

    assert standin.streams.subscribe_messages[0]["params"] == ["btcusdt@trade"]
    fields = ("id", "timestamp", "price", "amount")
    assert [pushed[f] for f in fields] == [served[f] for f in fields]
    assert pushed["timestamp"] == candle_ms(NOW_INDEX) + 15_000
