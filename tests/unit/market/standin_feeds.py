"""What the live feeds' tests share (`test_ccxt_feed`, `test_trade_feed`): the candles the Binance
stand-in replays and a reader of a feed's stream. The stand-in, its clients and clock are fixtures
in this folder's conftest.py.

The stand-in replays 1m candles; its clock starts one second after candle 60 opened, so 60 is
forming and 0..59 have closed. `SteppedExchangeClock` is the feed's clock and moves with the
stand-in's, so no test waits on wall time.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Protocol, Sequence
from urllib.parse import urlsplit

from execution.standin import SteppedExchangeClock
from market.models import Candle

T0_MS = 1_704_067_200_000           # 2024-01-01T00:00:00Z
STEP_MS = 60_000
NOW_INDEX = 60


def candle_ms(i: int) -> int:
    return T0_MS + i * STEP_MS


def make_rows(count: int = 120) -> list[tuple[int, float, float, float, float, float]]:
    """1m candles whose numbers are exact in binary, so what ccxt parses equals them exactly."""
    rows = []
    for i in range(count):
        o, c = 30_000.0 + 10 * (i - 1), 30_000.0 + 10 * i
        rows.append((candle_ms(i), o, c + 25, o - 25, c, 1.5 + i))
    return rows


ROWS = make_rows()


def candles(first: int, last: int) -> list[Candle]:
    """Candles first..last, inclusive."""
    return [Candle(*ROWS[i]) for i in range(first, last + 1)]


class Feed(Protocol):
    def stream(self) -> AsyncIterator[Sequence[Candle]]: ...

    async def aclose(self) -> None: ...


class Reader:
    """Reads a feed's stream in a task, keeping each batch."""

    def __init__(self, feed: Feed) -> None:
        self.batches: list[list[Candle]] = []
        self.task = asyncio.create_task(self._read(feed))

    async def _read(self, feed: Feed) -> None:
        async for batch in feed.stream():
            self.batches.append(list(batch))

    @property
    def candles(self) -> list[Candle]:
        return [c for batch in self.batches for c in batch]


async def read(feed: Feed, clock: SteppedExchangeClock) -> Reader:
    """Start reading `feed`, once the stand-in's clock has nothing left to run."""
    reader = Reader(feed)
    await clock.settle()
    return reader


async def finish(feed: Feed, reader: Reader) -> None:
    """Close `feed` and wait for its reader to end."""
    await feed.aclose()
    await asyncio.wait_for(reader.task, timeout=1)


def on_standin(urls: Any, http: str, ws: str) -> Any:
    """ccxt's `urls["api"]` tree with every URL moved to the stand-in (websocket ones to `ws`)."""
    if isinstance(urls, dict):
        return {name: on_standin(url, http, ws) for name, url in urls.items()}
    parts = urlsplit(urls)
    return (ws if parts.scheme in ("ws", "wss") else http) + parts.path
