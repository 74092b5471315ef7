"""Fixtures for the stand-in tests: the stand-in serving `sample_market` (tests/standin_exchange.py,
shared with the integration tests), and real ccxt clients pointed at it (closed at teardown)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from execution.standin import BinanceStandIn, make_ccxt_client
from tests.standin_exchange import standin

__all__ = ["exchange", "make_client", "standin"]      # fixtures: pytest finds them by these names


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
