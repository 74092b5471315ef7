"""`rsi_reversion`: mean reversion on the relative strength index of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the RSI crosses below `oversold`: rsi[t] < oversold <= rsi[t-1] (buy the dip);
- GO_FLAT when it crosses above `overbought`: rsi[t] > overbought >= rsi[t-1] (take the profit);
- None otherwise, and until the RSI has values at t and t-1.

The RSI is ta's (`ta.momentum.RSIIndicator`), which gives its first value after `period` closes
(not `period + 1`), so the first signal can come at candle `period + 1`.

`entry: limit` buys the dip with a limit order instead of at the next open: at
`close[t] * (1 - limit_offset_pct)`, cancelled if no candle reaches it within `expire_after`
candles (null: good till cancelled); see `runner.bot.limit_orders`. Exits stay market orders.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.indicators import RSI
from strategies.params import Period, below
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Direction, LimitSignal, Signal

RsiLevel = Annotated[float, Field(gt=0, lt=100, strict=True)]
OffsetFraction = Annotated[float, Field(ge=0, lt=0.5, strict=True, description="a fraction of the close")]
Candles = Annotated[int, Field(gt=0, le=10_000, strict=True, description="closed candles")]


class RsiReversionParams(StrategyParams):
    period: Period = 14
    oversold: RsiLevel = 30.0
    overbought: RsiLevel = 70.0

    entry: Literal["market", "limit"] = "market"
    limit_offset_pct: OffsetFraction = 0.002          # the limit sits this far under the close
    expire_after: Candles | None = 3                  # null: good till cancelled

    _levels_ordered = below("oversold", "overbought")

    @model_validator(mode="after")
    def _limit_settings_need_a_limit_entry(self) -> Self:
        given = [name for name in ("limit_offset_pct", "expire_after") if name in self.model_fields_set]
        if given and self.entry != "limit":
            verb = "applies" if len(given) == 1 else "apply"
            raise ValueError(f"{' and '.join(given)} {verb} to limit entries only; add entry: limit")
        return self


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
        self._limit_entry = params.entry == "limit"

    @property
    def warmup_bars(self) -> int:
        return self.params.period + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        rsi = self._rsi.update(market_data.candle.close)
        before, self._before = self._before, rsi
        if before is None or rsi is None:
            return None
        if rsi < self._oversold <= before:
            if self._limit_entry:
                price = market_data.candle.close * (1.0 - self.params.limit_offset_pct)
                return LimitSignal(Direction.LONG, "rsi oversold: limit entry", price=price,
                                   expire_after=self.params.expire_after)
            return GO_LONG
        if rsi > self._overbought >= before:
            return GO_FLAT
        return None
