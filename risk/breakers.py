"""Circuit breakers: volatility (every candle) and spread (fed by the caller from its quotes).

A breaker trips while its measure is beyond its threshold; once the measure is back within,
it stays tripped for `cooldown_candles` more candles: with a cool-down of N, the candle on
which it clears and the N - 1 after it still refuse entries, and the next one passes (N = 0:
entries pass on the candle it clears). While tripped it refuses new entries, never exits; with
`action: kill` it also names a kill-switch reason once, at the moment it trips.

Exactly at the threshold is within: only "beyond" trips.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from market.models import Candle
from risk.decision import RiskDecision, reject
from strategies.indicators import SMA, RollingStd


class BreakerLatch:
    """The trip and cool-down state every breaker shares; `step` once per measurement."""

    __slots__ = ("cooldown_candles", "tripped", "cooldown_left")

    def __init__(self, cooldown_candles: int) -> None:
        self.cooldown_candles = cooldown_candles
        self.tripped = False
        self.cooldown_left = 0

    def step(self, beyond: bool) -> bool:
        """Record one measurement; True when it trips the breaker (it was not tripped before)."""
        if beyond:
            newly = not self.tripped
            self.tripped, self.cooldown_left = True, self.cooldown_candles
            return newly
        if self.tripped:
            if self.cooldown_left == 0:
                self.tripped = False
            else:
                self.cooldown_left -= 1
        return False

    def candles_to_refuse(self) -> int:
        """The candles still refused, the one being decided included: what a person counts.
        `cooldown_left` counts those after it (0 on the last refused one), and while the
        measure is beyond, the whole cool-down is still ahead."""
        return min(self.cooldown_left + 1, self.cooldown_candles)

    def refusal_note(self) -> str:
        left = self.candles_to_refuse()
        return f"(or cooling down, {left} {'candle' if left == 1 else 'candles'} left)"

    def snapshot(self) -> dict[str, Any]:
        return {"tripped": self.tripped, "cooldown_left": self.cooldown_left}

    def restore(self, data: dict[str, Any]) -> None:
        self.tripped, self.cooldown_left = data["tripped"], data["cooldown_left"]


class VolatilityBreaker:
    """Trips while the volatility over the last `window` candles is beyond `threshold`, per
    candle and not annualized:

    - realized (default): the sample standard deviation of the log returns `ln(c_t / c_t-1)`
      of the last `window` closes-to-close steps;
    - `atr=True`: the mean true range of the last `window` candles over the last close, with
      `tr = max(h - l, |h - c_t-1|, |l - c_t-1|)` (`h - l` on the first candle).

    Both are kept exactly (`RollingStd`, `SMA`: the value depends only on the window), so a
    restore that replays the window's values continues bit for bit. No value, and no trip,
    until the window is full.
    """

    name = "volatility_breaker"

    def __init__(self, window: int, threshold: float, *, atr: bool = False, cooldown_candles: int = 0,
                 kill: bool = False) -> None:
        self.window = window
        self.threshold = threshold
        self.atr = atr
        self.kill = kill
        self.latch = BreakerLatch(cooldown_candles)
        self.value: float | None = None
        self._prev_close: float | None = None
        self._values: deque[float] = deque(maxlen=window)   # log returns or true ranges, for snapshots
        self._average = self._new_average()

    def _new_average(self) -> SMA | RollingStd:
        return SMA(self.window) if self.atr else RollingStd(self.window, ddof=1)

    def on_candle(self, candle: Candle, equity: float) -> str | None:
        prev, close = self._prev_close, candle.close
        self._prev_close = close
        if self.atr:
            tr = candle.high - candle.low
            if prev is not None:
                tr = max(tr, abs(candle.high - prev), abs(candle.low - prev))
            self._values.append(tr)
            mean_tr = self._average.update(tr)
            if mean_tr is None:
                return None
            value = mean_tr / close
        else:
            if prev is None:
                return None
            log_return = math.log(close / prev)
            self._values.append(log_return)
            value = self._average.update(log_return)
            if value is None:
                return None
        self.value = value
        if self.latch.step(value > self.threshold) and self.kill:
            return (f"volatility breaker: {'ATR/close' if self.atr else 'volatility'} {value:.4%} over "
                    f"{self.window} candles is beyond {self.threshold:.4%}")
        return None

    def refusal(self) -> RiskDecision | None:
        if not self.latch.tripped:
            return None
        return reject(f"volatility breaker: {'ATR/close' if self.atr else 'volatility'} "
                      f"{self.value:.4%} over {self.window} candles beyond {self.threshold:.4%} "
                      f"{self.latch.refusal_note()}", self.name,
                      value=self.value, threshold=self.threshold, cooldown_left=float(self.latch.candles_to_refuse()))

    def figures(self) -> dict[str, float | None]:
        return {"volatility": self.value, "volatility_breaker": float(self.latch.tripped)}

    def snapshot(self) -> dict[str, Any]:
        return {**self.latch.snapshot(), "value": self.value, "prev_close": self._prev_close,
                "values": list(self._values)}

    def restore(self, data: dict[str, Any]) -> None:
        self.latch.restore(data)
        self.value, self._prev_close = data["value"], data["prev_close"]
        self._values.clear()
        self._average = self._new_average()
        for value in data["values"][-self.window:]:
            self._values.append(value)
            self._average.update(value)


class SpreadBreaker:
    """Trips while the best bid/ask spread is beyond `max_bps`. The caller feeds the spread with
    `observe` whenever it has quotes (paper and live; sim has none, so it never trips there):
    a spread beyond the limit refuses entries at once, and the cool-down counts candles from the
    first candle that closes with the last spread fed back within. A kill is handed to the next
    `on_candle`, where every kill reason of the engine comes out."""

    name = "spread_breaker"

    def __init__(self, max_bps: float, *, cooldown_candles: int = 0, kill: bool = False) -> None:
        self.max_bps = max_bps
        self.kill = kill
        self.latch = BreakerLatch(cooldown_candles)
        self.spread_bps: float | None = None
        self._kill_reason: str | None = None

    def observe(self, spread_bps: float) -> None:
        self.spread_bps = spread_bps
        if spread_bps > self.max_bps and self.latch.step(True) and self.kill:
            self._kill_reason = f"spread breaker: spread {spread_bps:.2f} bps is beyond {self.max_bps:.2f} bps"

    def on_candle(self, candle: Candle, equity: float) -> str | None:
        spread = self.spread_bps
        if spread is not None and spread <= self.max_bps:
            self.latch.step(False)
        reason, self._kill_reason = self._kill_reason, None
        return reason

    def refusal(self) -> RiskDecision | None:
        if not self.latch.tripped:
            return None
        return reject(f"spread breaker: spread {self.spread_bps:.2f} bps beyond {self.max_bps:.2f} bps "
                      f"{self.latch.refusal_note()}", self.name,
                      spread_bps=self.spread_bps, max_bps=self.max_bps,
                      cooldown_left=float(self.latch.candles_to_refuse()))

    def figures(self) -> dict[str, float | None]:
        return {"spread_bps": self.spread_bps, "spread_breaker": float(self.latch.tripped)}

    def snapshot(self) -> dict[str, Any]:
        return {**self.latch.snapshot(), "spread_bps": self.spread_bps, "kill_reason": self._kill_reason}

    def restore(self, data: dict[str, Any]) -> None:
        self.latch.restore(data)
        self.spread_bps, self._kill_reason = data["spread_bps"], data["kill_reason"]
