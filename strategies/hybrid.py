"""`hybrid`: technical votes and a model's forecast, weighed into buy and sell scores.

Evaluated once per closed candle t, from the features the strategy declares (computed for it,
shared per stream) and the bot's latest model forecast:

| vote | buy when | sell when | weight |
|---|---|---|---|
| EMA cross | ema(short) > ema(long) | ema(short) < ema(long) | `ema_weight` |
| RSI | rsi < `rsi_oversold` | rsi > `rsi_overbought` | `rsi_weight` |
| Bollinger | close < lower band | close > upper band | `bb_weight` |
| VWAP | close > vwap | close < vwap | `vwap_weight` |
| model | predicted return > `model_threshold` | < -`model_threshold` | `model_weight` |

A cross votes for the side the close (or the short EMA) is on after it, so two votes can agree
on one candle. A vote without a value (a feature warming up, no forecast, the model
unavailable) is absent: the bot then decides on its technical votes alone. GO_LONG when the buy
score reaches `score_threshold`, GO_FLAT when the sell score does; the risk engine turns a
GO_LONG while long, or a GO_FLAT while flat, into nothing. The Bollinger vote is mean
reversion (a close under the lower band is cheap), the EMA and VWAP votes follow the trend.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.limits import Number
from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.params import Period, below
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Signal

Weight = Annotated[Number, Field(ge=0, le=100)]
RsiLevel = Annotated[Number, Field(gt=0, lt=100)]


class HybridParams(StrategyParams):
    ema_short_period: Period = 12
    ema_long_period: Period = 26
    rsi_period: Period = 14
    rsi_oversold: RsiLevel = 30.0
    rsi_overbought: RsiLevel = 70.0
    bb_period: Period = 20
    bb_dev: Annotated[Number, Field(gt=0, le=10)] = 2.0
    score_threshold: Annotated[Number, Field(gt=0, le=500)] = 1.5
    model_threshold: Annotated[Number, Field(ge=0, le=1)] = 0.005
    ema_weight: Weight = 1.0
    rsi_weight: Weight = 1.0
    bb_weight: Weight = 1.0
    vwap_weight: Weight = 1.0
    model_weight: Weight = 1.0

    _emas_ordered = below("ema_short_period", "ema_long_period")
    _rsi_levels_ordered = below("rsi_oversold", "rsi_overbought")


def _plain(number: float) -> str:
    """2.0 -> "2", 2.5 -> "2.5", 1e-05 -> "0.00001": a decimal without an exponent, as feature specs have."""
    return format(number, "f").rstrip("0").rstrip(".")


@register
class Hybrid(Strategy):
    """Weighted technical and model votes; see the module docstring for the rule."""

    name = "hybrid"
    Params = HybridParams

    def __init__(self, params: HybridParams) -> None:
        super().__init__(params)
        p = params
        self._ema_short, self._ema_long = f"ema:{p.ema_short_period}", f"ema:{p.ema_long_period}"
        self._rsi = f"rsi:{p.rsi_period}"
        bb = f"bb:{p.bb_period}:{_plain(p.bb_dev)}"
        self._bb, self._bb_upper, self._bb_lower = bb, f"{bb}:upper", f"{bb}:lower"
        self._features = (self._ema_short, self._ema_long, self._rsi, bb, "vwap:day")

    @property
    def features(self) -> tuple[str, ...]:
        return self._features

    @property
    def warmup_bars(self) -> int:
        p = self.params
        return max(p.ema_long_period, p.rsi_period + 1, p.bb_period)

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        buy, sell = self.scores(market_data)
        threshold = self.params.score_threshold
        if buy >= threshold and buy > sell:
            return GO_LONG
        if sell >= threshold and sell > buy:
            return GO_FLAT
        return None

    def scores(self, market_data: MarketView) -> tuple[float, float]:
        """(buy score, sell score) for the candle in `market_data`."""
        p, values, close = self.params, market_data.features, market_data.candle.close
        buy = sell = 0.0
        short, long = values.get(self._ema_short), values.get(self._ema_long)
        if short is not None and long is not None and short != long:
            if short > long:
                buy += p.ema_weight
            else:
                sell += p.ema_weight
        rsi = values.get(self._rsi)
        if rsi is not None:
            if rsi < p.rsi_oversold:
                buy += p.rsi_weight
            elif rsi > p.rsi_overbought:
                sell += p.rsi_weight
        lower, upper = values.get(self._bb_lower), values.get(self._bb_upper)
        if lower is not None and upper is not None:
            if close < lower:
                buy += p.bb_weight
            elif close > upper:
                sell += p.bb_weight
        vwap = values.get("vwap:day")
        if vwap is not None and close != vwap:
            if close > vwap:
                buy += p.vwap_weight
            else:
                sell += p.vwap_weight
        forecast = market_data.forecast
        if forecast is not None:
            if forecast.predicted_return > p.model_threshold:
                buy += p.model_weight
            elif forecast.predicted_return < -p.model_threshold:
                sell += p.model_weight
        return buy, sell
