"""`sma_cross_trend`: `sma_cross` on the bot's candles, entering only with a higher timeframe's trend.

Rule, evaluated once per closed candle t of the bot's timeframe:

- GO_LONG when the fast SMA crosses above the slow one (as `sma_cross`) **and** the trend is
  up: the close of the last closed `trend_timeframe` candle is above the SMA of the last
  `trend_period` such closes; a crossing while the trend is down, or before the trend SMA has
  a value, gives nothing;
- GO_FLAT when the fast SMA crosses below the slow one, whatever the trend (exits never wait);
- None otherwise.

The trend candles are `MarketView.timeframes[trend_timeframe]`: built from the bot's candles
and seen only once closed (`market.timeframes`), so the 1h trend at 10:37 is the 09:00 candle's,
in a backtest as live. The bot's warm-up covers `trend_period` of them (a paper or live bot
fetches that much history when it starts); in a backtest the first entry can come only once
`trend_period` trend candles have closed.
"""

from __future__ import annotations

from typing import Literal

from market.view import MarketView
from strategies.base import Strategy
from strategies.crossing import LineCross
from strategies.indicators import SMA
from strategies.params import FastSlowParams, Period
from strategies.registry import register
from strategies.signal import GO_LONG, Direction, Signal

TrendTimeframe = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"]


class SmaCrossTrendParams(FastSlowParams):
    fast: Period = 10
    slow: Period = 30
    trend_timeframe: TrendTimeframe = "1h"
    """A whole multiple of the bot's timeframe, above it (the config check says which fit)."""
    trend_period: Period = 50


@register
class SmaCrossTrend(Strategy):
    """SMA crossings of the bot's closes, entries only while the higher timeframe's close is
    above its SMA; see the module docstring."""

    name = "sma_cross_trend"
    Params = SmaCrossTrendParams
    params: SmaCrossTrendParams

    def __init__(self, params: SmaCrossTrendParams) -> None:
        super().__init__(params)
        self._fast = SMA(params.fast).update
        self._slow = SMA(params.slow).update
        self._cross = LineCross().update
        self._trend_sma = SMA(params.trend_period).update
        self._timeframe = params.trend_timeframe   # a plain attribute: read on every candle
        self._trend_seen = 0                  # trend candles fed to the trend SMA
        self.trend_up = False
        self._entry = Signal(Direction.LONG, f"enter long ({params.trend_timeframe} close above "
                                             f"its {params.trend_period}-candle SMA)")

    @property
    def warmup_bars(self) -> int:
        return self.params.slow + 1

    @property
    def timeframes(self) -> tuple[str, ...]:
        return (self.params.trend_timeframe,)

    def higher_warmup_bars(self, timeframe: str) -> int:
        return self.params.trend_period

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        trend = market_data.timeframes[self._timeframe]
        closed = trend.bar_index + 1 - self._trend_seen
        if closed:                            # once per trend candle (more after a gap): cheap otherwise
            sma = None
            for candle in trend.history(closed):
                sma = self._trend_sma(candle.close)
            self._trend_seen += closed
            self.trend_up = sma is not None and trend.candle.close > sma
        close = market_data.candle.close
        fast = self._fast(close)
        slow = self._slow(close)
        if slow is None:
            return None
        signal = self._cross(fast, slow)
        if signal is GO_LONG:
            return self._entry if self.trend_up else None
        return signal
