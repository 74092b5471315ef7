"""The surface the runner needs from a source of market data."""

from __future__ import annotations

from typing import AsyncIterator, Protocol, Sequence

from market.models import Candle


class MarketDataProvider(Protocol):
    """Closed candles for one symbol and timeframe, in time order, each exactly once.

    `stream()` yields batches: a replay hands out many candles per batch so a backtest pays the
    async machinery once per batch, while a live feed yields one candle as each closes. A batch
    is never empty.
    """

    symbol: str
    timeframe: str

    @property
    def stale(self) -> bool:
        """True while no new candle has come for several timeframes (a live feed's upstream
        stopped); always False for replayed data."""
        ...

    def stream(self) -> AsyncIterator[Sequence[Candle]]: ...

    async def history(self, limit: int) -> list[Candle]:
        """Up to `limit` closed candles before the stream starts, for warm-up."""
        ...

    async def aclose(self) -> None: ...
