"""When a bot asks its model (the expensive call): triggers, checked once per closed candle.

| kind | fires on the candle where | settings |
|---|---|---|
| `interval` | `every` has passed since the last call (or there was none) | `every: 15m` |
| `price_move` | the close moved at least `pct` from the close at the last call | `pct: 0.01` |
| `volume_spike` | the volume is at least `factor` times the mean of the `window` before | `factor: 3`, `window: 20` |
| `volatility_spike` | the standard deviation of the last `window` log returns rises to `threshold` or above (once per rise) | `threshold: 0.01`, `window: 30` |

and by hand (`botrunner trigger BOT`), which fires on the bot's next candle. A bot with a model
and no triggers asks it on every candle. Several triggers may be set, each with its own
settings; the first that fires names the forecast's `trigger`. Each keeps its own state on every
candle (rolling volumes, returns), whether or not another one fired, so each fires exactly on
the candles its rule names. O(1) per candle.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator

from market.limits import Number, WholeNumber
from market.models import Candle, timeframe_ms
from market.strict import StrictModel

__all__ = ["TriggerConfig", "Triggers"]


class _Trigger(StrictModel):
    pass


class IntervalTrigger(_Trigger):
    kind: Literal["interval"]
    every: str

    @field_validator("every")
    @classmethod
    def _duration(cls, every: str) -> str:
        timeframe_ms(every)                    # raises ValueError with what is allowed
        return every


class PriceMoveTrigger(_Trigger):
    kind: Literal["price_move"]
    pct: Annotated[Number, Field(gt=0, le=1)]


class VolumeSpikeTrigger(_Trigger):
    kind: Literal["volume_spike"]
    factor: Annotated[Number, Field(gt=1, le=1000)] = 3.0
    window: Annotated[WholeNumber, Field(ge=2, le=10_000)] = 20


class VolatilitySpikeTrigger(_Trigger):
    kind: Literal["volatility_spike"]
    threshold: Annotated[Number, Field(gt=0, le=10)]
    window: Annotated[WholeNumber, Field(ge=2, le=10_000)] = 30


TriggerConfig = Annotated[Union[IntervalTrigger, PriceMoveTrigger, VolumeSpikeTrigger, VolatilitySpikeTrigger],
                          Field(discriminator="kind")]


class Triggers:
    """The triggers of one bot. `check(candle)` once per closed candle, in order; `asked(candle)`
    after the model was asked on it; `request_manual()` for a call by hand."""

    def __init__(self, configs: list[IntervalTrigger | PriceMoveTrigger | VolumeSpikeTrigger |
                                      VolatilitySpikeTrigger]) -> None:
        self._checks = [_make(c) for c in configs]
        self._manual = False
        self._last_call_ms: int | None = None
        self._last_call_price: float | None = None

    @property
    def every_candle(self) -> bool:
        """No trigger is set: the model is asked on every candle."""
        return not self._checks

    def request_manual(self) -> None:
        self._manual = True

    def check(self, candle: Candle, close_ms: int) -> str | None:
        """The name of the trigger that fires on `candle` (closing at `close_ms`), or None."""
        fired = "manual" if self._manual else ("every_candle" if not self._checks else None)
        for check in self._checks:
            reason = check(candle, close_ms, self._last_call_ms, self._last_call_price)
            if fired is None:
                fired = reason
        return fired

    def asked(self, candle: Candle, close_ms: int) -> None:
        self._manual = False
        self._last_call_ms, self._last_call_price = close_ms, candle.close

    def snapshot(self) -> dict[str, Any]:
        """Everything the next `check` depends on, JSON-ready: a restarted sim bot re-running
        its candles asks its model on the same candles as before."""
        return {"manual": self._manual, "last_call_ms": self._last_call_ms, "last_call_price": self._last_call_price,
                "checks": [c.snapshot() if hasattr(c, "snapshot") else None for c in self._checks]}

    def restore(self, data: dict[str, Any]) -> None:
        self._manual, self._last_call_ms, self._last_call_price = (data["manual"], data["last_call_ms"],
                                                                  data["last_call_price"])
        for check, state in zip(self._checks, data["checks"]):
            if state is not None:
                check.restore(state)


def _make(config):
    if isinstance(config, IntervalTrigger):
        every_ms = timeframe_ms(config.every)
        return lambda candle, close_ms, last_ms, last_price: (
            "interval" if last_ms is None or close_ms - last_ms >= every_ms else None)
    if isinstance(config, PriceMoveTrigger):
        pct = config.pct
        return lambda candle, close_ms, last_ms, last_price: (
            "price_move" if last_price is None or abs(candle.close / last_price - 1.0) >= pct else None)
    if isinstance(config, VolumeSpikeTrigger):
        return _VolumeSpike(config.factor, config.window)
    return _VolatilitySpike(config.threshold, config.window)


class _VolumeSpike:
    """Volume at least `factor` times the mean of the `window` volumes before this candle."""

    __slots__ = ("_factor", "_window", "_sum")

    def __init__(self, factor: float, window: int) -> None:
        self._factor = factor
        self._window: deque[float] = deque(maxlen=window)
        self._sum = 0.0

    def __call__(self, candle: Candle, close_ms: int, last_ms: int | None, last_price: float | None) -> str | None:
        window = self._window
        full = len(window) == window.maxlen
        fired = full and self._sum > 0 and candle.volume >= self._factor * self._sum / len(window)
        if full:
            self._sum -= window[0]
        window.append(candle.volume)
        self._sum += candle.volume
        return "volume_spike" if fired else None

    def snapshot(self) -> dict[str, Any]:
        return {"window": list(self._window), "sum": self._sum}   # the running sum as is: rounding included

    def restore(self, data: dict[str, Any]) -> None:
        self._window.clear()
        self._window.extend(data["window"])
        self._sum = data["sum"]


class _VolatilitySpike:
    """The sample standard deviation of the last `window` log returns rising to `threshold`."""

    __slots__ = ("_threshold", "_returns", "_sum", "_sum_sq", "_last_close", "_above")

    def __init__(self, threshold: float, window: int) -> None:
        self._threshold = threshold
        self._returns: deque[float] = deque(maxlen=window)
        self._sum = self._sum_sq = 0.0
        self._last_close: float | None = None
        self._above = False

    def __call__(self, candle: Candle, close_ms: int, last_ms: int | None, last_price: float | None) -> str | None:
        last, self._last_close = self._last_close, candle.close
        if last is None:
            return None
        r = math.log(candle.close / last)
        returns = self._returns
        if len(returns) == returns.maxlen:
            old = returns[0]
            self._sum -= old
            self._sum_sq -= old * old
        returns.append(r)
        self._sum += r
        self._sum_sq += r * r
        n = len(returns)
        if n < returns.maxlen:
            return None
        variance = max(0.0, (self._sum_sq - self._sum * self._sum / n) / (n - 1))
        above = math.sqrt(variance) >= self._threshold
        rising, self._above = above and not self._above, above
        return "volatility_spike" if rising else None

    def snapshot(self) -> dict[str, Any]:
        return {"returns": list(self._returns), "sum": self._sum, "sum_sq": self._sum_sq,
                "last_close": self._last_close, "above": self._above}

    def restore(self, data: dict[str, Any]) -> None:
        self._returns.clear()
        self._returns.extend(data["returns"])
        self._sum, self._sum_sq = data["sum"], data["sum_sq"]
        self._last_close, self._above = data["last_close"], data["above"]
