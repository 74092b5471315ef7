"""Fixtures for the stand-in tests: the stand-in serving `sample_market`, and real ccxt clients
pointed at it (closed at teardown)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from execution.standin import BinanceStandIn, make_ccxt_client

from .sample_market import NOW_INDEX, candle_ms, make_candles


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(make_candles(), balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(NOW_INDEX),
                              fee_rate=0.001, spread_bps=2) as running:
        yield running


@pytest.fixture
async def make_client(standin: BinanceStandIn) -> AsyncIterator[Callable[..., ccxt_async.binance]]:
    """Factory: `make_client(secret="wrong", timeout_ms=200)`; every client is closed at teardown."""
    clients: list[ccxt_async.binance] = []

    def make(**kwargs: Any) -> ccxt_async.binance:
        clients.append(make_ccxt_client(standin, **kwargs))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def exchange(make_client: Callable[..., ccxt_async.binance]) -> ccxt_async.binance:
    return make_client()
