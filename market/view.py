"""`MarketView`: what a strategy sees when a candle closes.

One view per bot, updated in place by the runner (creating one per candle would cost more than
the strategy). Strategies read it and must not keep references to `history()` lists across
calls. Beside the candles:

- `features`: the values of the features the strategy declares (`Strategy.features`, e.g.
  `"ema:12"`, `"bb:20:2:upper"`), for this candle, computed once per stream and shared by
  every bot that reads it (`strategies.features`); None while a feature is warming up.
- `forecast`: the bot's latest model forecast (`market.forecast.Forecast`), or None when it
  has none or its model is unavailable: a strategy then decides without the model's vote.
- `regime`, `regime_probs`: the market regime of this candle (`market.regime.Regime`) and the
  probability of each label, for bots with a regime detector (`regimes:` or `regime:` in the
  config); `Regime.UNKNOWN` and {} otherwise, and before the detector's first fit.
- `timeframes`: views of the same symbol on the higher timeframes the strategy declares
  (`Strategy.timeframes`), keyed like "1h", each with its own history window: built from this
  view's candles, and holding only the candles that have closed (`market.timeframes`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from market.forecast import Forecast
from market.models import Candle
from market.regime import Regime


class MarketView:
    __slots__ = ("symbol", "timeframe", "candle", "bar_index", "features", "forecast", "regime", "regime_probs",
                 "timeframes", "_window")

    def __init__(self, symbol: str, timeframe: str, *, window: int = 500) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.candle: Candle | None = None
        self.bar_index = -1
        self.features: Mapping[str, float | None] = {}
        self.forecast: Forecast | None = None
        self.regime = Regime.UNKNOWN
        self.regime_probs: Mapping[str, float] = {}
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
