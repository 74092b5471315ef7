"""`bollinger_breakout`: momentum on a close breaking out of its Bollinger bands.

Rule, evaluated once per closed candle t, with bands over the last `period` closes:

- GO_LONG when the close crosses above the upper band: close[t] > upper[t] and close[t-1] <= upper[t-1];
- GO_FLAT when it crosses below the middle band: close[t] < middle[t] and close[t-1] >= middle[t-1];
- None otherwise, and until the bands have values at t and t-1 (the first `period + 1` candles).

Bands as in `ta.volatility.BollingerBands` (middle = SMA, std with ddof=0), but computed
exactly (see `strategies.indicators.Bollinger`): over a flat stretch the bands collapse onto the
close, where ta's rolling std keeps a little rounding noise.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.indicators import Bollinger
from strategies.params import Period
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Signal


class BollingerBreakoutParams(StrategyParams):
    period: Period = 20
    dev: Annotated[float, Field(gt=0, le=10, strict=True, description="band width in standard deviations")] = 2.0


@register
class BollingerBreakout(Strategy):
    """Enters on a close above the upper band, exits on a close back below the middle band."""

    name = "bollinger_breakout"
    Params = BollingerBreakoutParams

    def __init__(self, params: BollingerBreakoutParams) -> None:
        super().__init__(params)
        self._bands = Bollinger(params.period, params.dev)
        self._above_upper: bool | None = None  # at the previous candle: close > upper
        self._below_middle = False  # at the previous candle: close < middle

    @property
    def warmup_bars(self) -> int:
        return self.params.period + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        close = market_data.candle.close
        bands = self._bands
        if bands.update(close) is None:
            return None
        above_upper = close > bands.upper
        below_middle = close < bands.middle
        was_above, was_below = self._above_upper, self._below_middle
        self._above_upper, self._below_middle = above_upper, below_middle
        if was_above is None:
            return None
        if above_upper and not was_above:
            return GO_LONG
        if below_middle and not was_below:
            return GO_FLAT
        return None
