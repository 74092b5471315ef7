"""`rsi_reversion`: mean reversion on the relative strength index of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the RSI crosses below `oversold`: rsi[t] < oversold <= rsi[t-1] (buy the dip);
- GO_FLAT when it crosses above `overbought`: rsi[t] > overbought >= rsi[t-1] (take the profit);
- None otherwise, and until the RSI has values at t and t-1.

The RSI is ta's (`ta.momentum.RSIIndicator`), which gives its first value after `period` closes
(not `period + 1`), so the first signal can come at candle `period + 1`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.indicators import RSI
from strategies.params import Period, below
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Signal

RsiLevel = Annotated[float, Field(gt=0, lt=100, strict=True)]


class RsiReversionParams(StrategyParams):
    period: Period = 14
    oversold: RsiLevel = 30.0
    overbought: RsiLevel = 70.0

    _levels_ordered = below("oversold", "overbought")


@register
class RsiReversion(Strategy):
    """Buys when the RSI drops into oversold, exits when it rises into overbought."""

    name = "rsi_reversion"
    Params = RsiReversionParams

    def __init__(self, params: RsiReversionParams) -> None:
        super().__init__(params)
        self._rsi = RSI(params.period)
        self._oversold = params.oversold
        self._overbought = params.overbought
        self._before: float | None = None

    @property
    def warmup_bars(self) -> int:
        return self.params.period + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        rsi = self._rsi.update(market_data.candle.close)
        before, self._before = self._before, rsi
        if before is None or rsi is None:
            return None
        if rsi < self._oversold <= before:
            return GO_LONG
        if rsi > self._overbought >= before:
            return GO_FLAT
        return None
