"""Risk settings of a bot, validated from YAML. Percentages are fractions: 0.05 means 5%.

Every rule beyond sizing and `max_position_pct` is off unless configured:

```yaml
risk:
  max_order_notional: 5000          # quote currency: a larger entry is resized down to it
  price_collar_pct: 0.05            # refuse an entry when the last close is more than 5% from
  price_collar_window: 20           #   the mean of the 20 closes before it
  daily_target_pct: 0.03            # no new entries once equity is 3% above the day's start
  max_fill_deviation_pct: 0.01      # a fill more than 1% from its reference price is an alert
  pause_on_fill_deviation: true     #   and pauses the bot
  volatility_breaker: {window: 60, threshold: 0.004, atr: false, cooldown_candles: 30, action: pause}
  spread_breaker: {max_bps: 25, cooldown_candles: 5, action: pause}
  var: {window: 1440, confidence: 0.95, method: historical, limit_pct: 0.01}
  protections:
    cooldown_after_stop_candles: 10
    max_losing_streak: 3
    streak_pause_candles: 60
    lookback_drawdown: {window_candles: 1440, max_pct: 0.05, pause_candles: 240}
```
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from market.limits import MAX_CAPITAL, Flag, Number, WholeNumber
from market.strict import StrictModel

Fraction = Annotated[Number, Field(gt=0, le=1)]
OpenFraction = Annotated[Number, Field(gt=0, lt=1)]
Candles = Annotated[WholeNumber, Field(ge=1, le=1_000_000)]
"""A count of candles: a window, a pause or a cool-down."""
Window = Annotated[WholeNumber, Field(ge=2, le=100_000)]
"""A window of returns: two at least, for a standard deviation."""
BreakerAction = Literal["pause", "kill"]

MAX_COLLAR_WINDOW = 499
"""The price collar reads its closes from the bot's `MarketView`, which keeps the last 500."""


class VolatilityBreakerConfig(StrictModel):
    """Pause entries (or kill) while the volatility over `window` candles is beyond `threshold`:
    the standard deviation of log returns, or with `atr: true` the average true range over the
    close, both per candle (not annualized): 0.004 is 0.4% a candle."""

    window: Window
    threshold: Annotated[Number, Field(gt=0, le=10)]
    atr: Flag = False
    cooldown_candles: Annotated[WholeNumber, Field(ge=0, le=1_000_000)] = 0
    action: BreakerAction = "pause"


class SpreadBreakerConfig(StrictModel):
    """Pause entries (or kill) while the best bid/ask spread, fed by paper and live bots from
    their quotes, is beyond `max_bps` (basis points of the mid price). Sim bots feed none."""

    max_bps: Annotated[Number, Field(gt=0, le=10_000)]
    cooldown_candles: Annotated[WholeNumber, Field(ge=0, le=1_000_000)] = 0
    action: BreakerAction = "pause"


class VarConfig(StrictModel):
    """Value at risk and expected shortfall of the bot's per-candle equity returns over the last
    `window` candles, at `confidence`; new entries are refused while VaR is above `limit_pct`
    (of equity, for one candle)."""

    window: Window
    confidence: Annotated[Number, Field(ge=0.5, lt=1)] = 0.95
    method: Literal["historical", "parametric"] = "historical"
    limit_pct: OpenFraction


class LookbackDrawdownConfig(StrictModel):
    """Pause entries for `pause_candles` when equity falls `max_pct` below its highest value of
    the last `window_candles` candles."""

    window_candles: Candles
    max_pct: OpenFraction
    pause_candles: Candles


class ProtectionsConfig(StrictModel):
    """freqtrade's protections: a cool-down after a stop-loss, a pause after a losing streak, a
    pause after a drawdown over a lookback window. Each is off unless set."""

    cooldown_after_stop_candles: Candles | None = None
    """No new entry at the next N candle closes after a stop-loss exit filled."""
    max_losing_streak: Candles | None = None
    """After this many losing round trips in a row, no new entry for `streak_pause_candles`."""
    streak_pause_candles: Candles | None = None
    lookback_drawdown: LookbackDrawdownConfig | None = None

    @model_validator(mode="after")
    def _streak_has_a_pause(self) -> Self:
        if (self.max_losing_streak is None) != (self.streak_pause_candles is None):
            raise ValueError("max_losing_streak and streak_pause_candles go together: set both or neither")
        return self


class TrailingStopAtr(StrictModel):
    """A trailing stop `multiple` ATRs (of `period` candles, at the entry) below the highest price."""

    multiple: Annotated[Number, Field(gt=0, le=100)]
    period: Annotated[WholeNumber, Field(ge=1, le=1000)] = 14


class RiskConfig(StrictModel):
    stake_pct: Fraction = 0.95
    """Share of available cash an entry spends; its fee is paid on top."""
    max_position_pct: Fraction = 1.0
    """Largest position value allowed, as a share of equity at entry."""
    stop_loss_pct: OpenFraction | None = None
    """Exit when price falls this far below the entry (rises above it, for a short)."""
    take_profit_pct: Annotated[Number, Field(gt=0, le=100)] | None = None
    """Exit when price rises this far above the entry."""
    trailing_stop_pct: OpenFraction | None = None
    """Exit when price falls this far below its highest since the entry (the stop trails it)."""
    trailing_stop_atr: TrailingStopAtr | None = None
    """The same by a multiple of the ATR at the entry: `{multiple: 3, period: 14}`."""
    daily_max_loss_pct: OpenFraction | None = None
    """Trip the kill switch when equity falls this far below the start of the day (UTC, or the
    bot's `session` day in its time zone)."""
    max_drawdown_pct: OpenFraction | None = None
    """Trip the kill switch when equity falls this far below its peak."""
    kill_on_stale_data: Flag = False
    """Paper and live: trip the kill switch when the exchange sends no new candle for
    `exchange.stale_after_bars` timeframes."""
    max_order_notional: Annotated[Number, Field(gt=0, le=MAX_CAPITAL)] | None = None
    """Largest entry, in quote currency: a larger one is resized down to it."""
    price_collar_pct: OpenFraction | None = None
    """Refuse an entry when the last close is more than this far from the mean of the
    `price_collar_window` closes before it (a bad tick, a fat finger)."""
    price_collar_window: Annotated[WholeNumber, Field(ge=1, le=MAX_COLLAR_WINDOW)] | None = None
    daily_target_pct: Annotated[Number, Field(gt=0, le=100)] | None = None
    """Once equity is this far above the start of its day (UTC, or the `session`'s), no new entries
    until the next."""
    max_fill_deviation_pct: OpenFraction | None = None
    """A fill more than this far from its reference price is an alert (`risk.rules.fill_deviation`)."""
    pause_on_fill_deviation: Flag = False
    """With `max_fill_deviation_pct`: such a fill also pauses the bot."""
    volatility_breaker: VolatilityBreakerConfig | None = None
    spread_breaker: SpreadBreakerConfig | None = None
    var: VarConfig | None = None
    protections: ProtectionsConfig | None = None

    @model_validator(mode="after")
    def _one_trailing_stop(self) -> Self:
        if self.trailing_stop_pct is not None and self.trailing_stop_atr is not None:
            raise ValueError("trailing_stop_pct and trailing_stop_atr are two ways to set one trailing stop: "
                             "set one of them")
        return self

    @model_validator(mode="after")
    def _pairs_are_complete(self) -> Self:
        if (self.price_collar_pct is None) != (self.price_collar_window is None):
            raise ValueError("price_collar_pct and price_collar_window go together: set both or neither")
        if self.pause_on_fill_deviation and self.max_fill_deviation_pct is None:
            raise ValueError("pause_on_fill_deviation needs max_fill_deviation_pct")
        return self
