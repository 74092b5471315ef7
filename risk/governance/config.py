"""The `governance:` block of a bot's config. Off unless `enabled: true`; fractions, 0.1 = 10%.

```yaml
governance:
  enabled: true
  start_level: 0                # where a bot with no saved level starts: 0 shadow .. 4 full
  constrained_fraction: 0.5     # L3's entry size; L2's is safe_mode.size_multiplier (0.1 without safe_mode)
  promotion: {min_trades: 50, min_win_rate: 0.45, max_drawdown_pct: 0.05}
  demote_drawdown_pct: 0.10     # drawdown at the level beyond this: down one level on that candle
  health: {window_trades: 30, min_trades: 10, drawdown_scale_pct: 0.2, floor: 0.1, journal_step: 0.1}
  drift: {every_candles: 60, window_candles: 1440, min_trades: 3, return_floor: 0.01,
          reduce_above: 0.3, pause_above: 0.5, reduce_to: 0.5}     # paper and live bots only
```
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from market.limits import Flag, Number, WholeNumber
from market.strict import StrictModel
from risk.config import Fraction

__all__ = ["DriftConfig", "GovernanceConfig", "HealthConfig", "PromotionConfig"]

Share = Annotated[Number, Field(ge=0, le=1)]


class PromotionConfig(StrictModel):
    min_trades: Annotated[WholeNumber, Field(ge=1, le=1_000_000)] = 50
    min_win_rate: Annotated[Number, Field(ge=0, lt=1)] = 0.45
    max_drawdown_pct: Fraction = 0.05


class HealthConfig(StrictModel):
    window_trades: Annotated[WholeNumber, Field(ge=1, le=10_000)] = 30
    min_trades: Annotated[WholeNumber, Field(ge=1, le=10_000)] = 10
    drawdown_scale_pct: Fraction = 0.20
    floor: Share = 0.1
    journal_step: Fraction = 0.1
    """A change of the score at least this large since the last one journalled is journalled."""

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> Self:
        if self.min_trades > self.window_trades:
            raise ValueError(f"min_trades ({self.min_trades}) must be at most window_trades ({self.window_trades})")
        return self


class DriftConfig(StrictModel):
    enabled: Flag = True
    every_candles: Annotated[WholeNumber, Field(ge=1, le=1_000_000)] = 60
    window_candles: Annotated[WholeNumber, Field(ge=10, le=100_000)] = 1440
    min_trades: Annotated[WholeNumber, Field(ge=1, le=1_000_000)] = 3
    return_floor: Fraction = 0.01
    reduce_above: Annotated[Number, Field(gt=0, le=100)] = 0.30
    pause_above: Annotated[Number, Field(gt=0, le=100)] = 0.50
    reduce_to: Fraction = 0.5

    @model_validator(mode="after")
    def _reduce_before_pause(self) -> Self:
        if self.reduce_above > self.pause_above:
            raise ValueError(f"reduce_above ({self.reduce_above:g}) must be at most pause_above "
                             f"({self.pause_above:g})")
        return self


class GovernanceConfig(StrictModel):
    enabled: Flag = False
    start_level: Annotated[WholeNumber, Field(ge=0, le=4)] = 0
    constrained_fraction: Fraction = 0.5
    promotion: PromotionConfig = PromotionConfig()
    demote_drawdown_pct: Fraction = 0.10
    health: HealthConfig = HealthConfig()
    drift: DriftConfig = DriftConfig()
