"""Symbols the stand-in lists beside the one it replays: exchangeInfo and the 24hr tickers, as
Binance serves them, read by real ccxt; the top-volume symbol provider ranks them."""

from __future__ import annotations

import aiohttp
import pytest

from execution.standin import BinanceStandIn, make_ccxt_client
from runner.basket.provider import TopVolumeSource
from runner.config.basket import TopVolumeSymbols

from .sample_market import NOW_INDEX, candle_ms, make_candles


def scaled(volume_factor: float, price_factor: float = 1.0) -> list[tuple]:
    return [(ts, o * price_factor, h * price_factor, lo * price_factor, c * price_factor, v * volume_factor)
            for ts, o, h, lo, c, v in make_candles()]


@pytest.fixture
async def market():
    async with BinanceStandIn(make_candles(), symbol="BTC/USDT", start_ms=candle_ms(NOW_INDEX)) as standin:
        standin.list_symbol("ETH/USDT", scaled(40, 0.05))      # the most quote volume among USDT pairs
        standin.list_symbol("SOL/USDT", scaled(0.5, 0.005))    # little
        standin.list_symbol("ETH/BTC", scaled(1000, 0.05))     # another quote currency
        client = make_ccxt_client(standin)
        yield standin, client
        await client.close()


async def test_every_listed_symbol_has_its_24hr_ticker_and_market(market):
    standin, client = market
    tickers = await client.fetch_tickers()
    assert set(tickers) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "ETH/BTC"}
    eth = tickers["ETH/USDT"]
    assert eth["last"] == pytest.approx(30_600 * 0.05) and eth["quoteVolume"] > tickers["BTC/USDT"]["quoteVolume"]
    assert ("GET", "/api/v3/ticker/24hr") in {(r.method, r.path) for r in standin.requests}
    one = await client.fetch_ticker("SOL/USDT")
    assert one["symbol"] == "SOL/USDT" and one["last"] == pytest.approx(30_600 * 0.005)


async def test_an_unknown_symbol_in_a_ticker_request_is_binances_error(market):
    standin, _ = market
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.base_url}/api/v3/ticker/24hr", params={"symbols": '["ETHUSDT","XRPUSDT"]'}) as reply:
            assert reply.status == 400 and (await reply.json())["code"] == -1121
        async with http.get(f"{standin.base_url}/api/v3/ticker/24hr", params={"symbols": '["SOLUSDT","ETHUSDT"]'}) as reply:
            assert [t["symbol"] for t in await reply.json()] == ["SOLUSDT", "ETHUSDT"]


@pytest.mark.parametrize("filters, expected", [
    ({"count": 2}, ["ETH/USDT", "BTC/USDT"]),
    ({"count": 10}, ["ETH/USDT", "BTC/USDT", "SOL/USDT"]),
    ({"count": 10, "min_quote_volume": 100_000}, ["ETH/USDT", "BTC/USDT"]),
    ({"count": 10, "quote": "BTC"}, ["ETH/BTC"]),
])
async def test_the_top_volume_provider_ranks_by_quote_volume_with_its_filters(market, filters, expected):
    _, client = market
    config = TopVolumeSymbols.model_validate({"source": "top_volume", "quote": "USDT", **filters})
    assert await TopVolumeSource(client, config).symbols() == expected
