"""A bot's regime settings: which regimes its strategy may enter in, and the detector's knobs.

```yaml
regimes: [trending_up]              # entries only in these; exits are never blocked
regime:                             # optional: every key has a default
  states: 4                         # hidden states: two trends, quiet ones, a wild one
  window: 20000                     # candles each fit sees at most
  min_window: 5000                  # the first fit once this many are seen
  refit_every: 2000                 # candles between fits
  vol_window: 60                    # candles of the realized volatility (the reference, the first fit's start)
  regime_candles: 1000              # the transition prior's mean regime length
  min_drift: 0.03                   # least drift per candle / volatility of the trend states
  trend_threshold: 0.01             # |drift per candle / volatility| a trending state needs
  quiet_ratio: 0.8                  # below this share of the reference volatility (the window's median): ranging
  volatile_ratio: 1.6               # at or above this multiple of it: volatile
  apply_after: 10                   # sim: a fit is used exactly this many candles after it started
```
The labels and how they are decided are in `strategies.regime.labelling`; the settings become
a `RegimeSettings` through `RegimeConfig.settings()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from market.limits import Number, WholeNumber
from market.strict import StrictModel

if TYPE_CHECKING:
    from strategies.regime.detector import RegimeSettings

# Regimes a bot may list; `unknown` (before the first fit) is deliberately not one of them.
RegimeName = Literal["trending_up", "trending_down", "ranging", "volatile"]


def _some_regime(names: list[str]) -> list[str]:
    if not names:
        raise ValueError("list at least one of trending_up, trending_down, ranging, volatile "
                         "(or remove regimes to enter in any regime)")
    return names


# `regimes:` in a bot config: the regimes its strategy may enter in.
AllowedRegimes = Annotated[list[RegimeName], AfterValidator(_some_regime)]


class RegimeConfig(StrictModel):
    states: Annotated[WholeNumber, Field(ge=4, le=16)] = 4
    window: Annotated[WholeNumber, Field(ge=200, le=1_000_000)] = 20_000
    min_window: Annotated[WholeNumber, Field(ge=200, le=1_000_000)] = 5_000
    refit_every: Annotated[WholeNumber, Field(ge=1, le=1_000_000)] = 2_000
    vol_window: Annotated[WholeNumber, Field(ge=2, le=100_000)] = 60
    regime_candles: Annotated[WholeNumber, Field(ge=2, le=10_000_000)] = 1_000
    min_drift: Annotated[Number, Field(ge=0, le=1)] = 0.03
    trend_threshold: Annotated[Number, Field(ge=0, le=1)] = 0.01
    quiet_ratio: Annotated[Number, Field(gt=0, le=1)] = 0.8
    volatile_ratio: Annotated[Number, Field(ge=1, le=100)] = 1.6
    apply_after: Annotated[WholeNumber, Field(ge=1, le=100_000)] = 10

    @model_validator(mode="after")
    def _window_holds_the_observations(self) -> Self:
        if self.min_window < 5 * self.vol_window:
            raise ValueError(f"min_window ({self.min_window}) must be at least 5 x vol_window ({self.vol_window}): "
                             "each fit needs many observations")
        if self.min_window > self.window:
            raise ValueError(f"min_window ({self.min_window}) must be <= window ({self.window})")
        if self.apply_after > self.refit_every:
            raise ValueError(f"apply_after ({self.apply_after}) must be <= refit_every ({self.refit_every}): "
                             "a fit is used before the next one is asked for")
        return self

    @property
    def history_candles(self) -> int:
        """Candles before the first fit: the observations' warm-up, then a full window."""
        return self.vol_window + self.min_window

    def settings(self) -> RegimeSettings:
        # Imported here: the detector's package brings numpy, which a bot without regimes never needs.
        from strategies.regime.detector import RegimeSettings
        from strategies.regime.labelling import LabelRule

        return RegimeSettings(states=self.states, window=self.window, min_window=self.min_window,
                              refit_every=self.refit_every,
                              vol_window=self.vol_window, regime_candles=self.regime_candles,
                              min_drift=self.min_drift,
                              rule=LabelRule(self.trend_threshold, self.quiet_ratio, self.volatile_ratio))
