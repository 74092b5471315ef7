"""Fixtures for the market tests, beside the shared `log_records` and `shared_data` of
tests/conftest.py: the live feeds' Binance stand-in, its ccxt clients and clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import ccxt.pro
import pytest

from execution.standin import STANDIN_OPTIONS, BinanceStandIn, SteppedExchangeClock, make_ccxt_client
from tests.unit.market.standin_feeds import NOW_INDEX, ROWS, candle_ms, on_standin


@pytest.fixture
def warnings_logged(log_records: list[dict[str, Any]]) -> Callable[[], list[str]]:
    """Call it to get the WARNING messages logged so far."""
    return lambda: [r["message"] for r in log_records if r["level"].name == "WARNING"]


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text (or bytes) to a file named `name` in tmp_path and return its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
async def standin():
    """The stand-in replaying `standin_feeds.ROWS`, candle `NOW_INDEX` forming."""
    async with BinanceStandIn(ROWS, start_ms=candle_ms(NOW_INDEX) + 1_000) as running:
        yield running


@pytest.fixture
async def client(standin):
    exchange = make_ccxt_client(standin)
    yield exchange
    await exchange.close()


@pytest.fixture
async def pro_client(standin):
    """ccxt.pro's binance (REST and websockets), every URL on the stand-in."""
    pro = ccxt.pro.binance({"options": dict(STANDIN_OPTIONS), "timeout_on_exit": 0, "timeout": 5_000})
    pro.urls["api"] = on_standin(pro.urls["api"], standin.base_url, standin.base_url.replace("http", "ws", 1))
    yield pro
    await pro.close()


@pytest.fixture
def clock(standin) -> SteppedExchangeClock:
    return SteppedExchangeClock(standin)


@pytest.fixture
async def close_after() -> Any:
    """`close_after(feed)` returns the feed, and closes it after the test."""
    made: list[Any] = []
    yield lambda feed: made.append(feed) or feed
    for feed in made:
        await feed.aclose()
