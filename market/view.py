"""`MarketView`: what a strategy sees when a candle closes.

One view per bot, updated in place by the runner (creating one per candle would cost more than
the strategy). Strategies read it and must not keep references to `history()` lists across
calls. Room for what comes next:

- `features`: values from feature providers (a model's prediction, an agent's forecast) that the
  runner awaits before calling the strategy; keyed by provider name.
- `timeframes`: views of the same symbol on other timeframes, keyed like "1h"; each is a
  `MarketView` that holds only that timeframe's closed candles.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from market.models import Candle


class MarketView:
    __slots__ = ("symbol", "timeframe", "candle", "bar_index", "features", "timeframes", "_window")

    def __init__(self, symbol: str, timeframe: str, *, window: int = 500) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.candle: Candle | None = None
        self.bar_index = -1
        self.features: dict[str, Any] = {}
        self.timeframes: dict[str, MarketView] = {}
        self._window: deque[Candle] = deque(maxlen=window)

    def push(self, candle: Candle) -> None:
        """The runner's call when `candle` closes; strategies never call it."""
        self.candle = candle
        self.bar_index += 1
        self._window.append(candle)

    def history(self, n: int | None = None) -> list[Candle]:
        """The last `n` closed candles (all in the window if None), oldest first."""
        window = self._window
        if n is None or n >= len(window):
            return list(window)
        return list(window)[-n:]

    def closes(self, n: int | None = None) -> list[float]:
        return [c.close for c in self.history(n)]

    def to_frame(self):
        """The window as a pandas DataFrame indexed by UTC time. Slow: for research and for
        strategies that run on long timeframes, not for per-minute hot paths."""
        import pandas as pd

        frame = pd.DataFrame(list(self._window), columns=Candle._fields)
        frame.index = pd.to_datetime(frame.pop("ts_ms"), unit="ms", utc=True)
        return frame
