"""Value at risk and expected shortfall of a bot's per-candle equity returns.

Over the last `window` returns `r_t = e_t / e_t-1 - 1` (as fractions of equity, for one candle,
losses positive):

- historical: `VaR = -q`, with `q` the `1 - confidence` quantile of the returns, interpolated
  linearly between order statistics like `numpy.percentile` (its default method); `ES` is the
  mean loss of the returns at or below `q`;
- parametric (normal): with `m` the mean, `s` the sample standard deviation (ddof 1) and
  `z = NormalDist().inv_cdf(confidence)`, `VaR = z s - m` and `ES = s phi(z) / (1 - confidence) - m`.

Collecting a return is one division per candle; the figures are computed only when asked (an
entry decision, `status`), and kept until the next return arrives. Nothing until the window is
full. Either figure may be negative: a window of gains only has no loss at that confidence.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any

from market.models import Candle
from risk.decision import RiskDecision, reject

_NORMAL = statistics.NormalDist()


def historical_var_es(returns: list[float], confidence: float) -> tuple[float, float]:
    """(VaR, ES) of `returns` by their empirical distribution; see the module docstring."""
    ordered = sorted(returns)
    n = len(ordered)
    position = (1.0 - confidence) * (n - 1)
    low = math.floor(position)
    high = min(low + 1, n - 1)
    t = position - low
    a, b = ordered[low], ordered[high]
    # numpy's lerp: from the nearer end, so the quantile of equal neighbours is exactly them.
    quantile = a + (b - a) * t if t < 0.5 else b - (b - a) * (1.0 - t)
    tail = [r for r in ordered[:high + 1] if r <= quantile]
    return -quantile, -math.fsum(tail) / len(tail)


def parametric_var_es(returns: list[float], confidence: float) -> tuple[float, float]:
    """(VaR, ES) of `returns` under a normal distribution with their mean and sample std."""
    mean = statistics.fmean(returns)
    std = statistics.stdev(returns)
    z = _NORMAL.inv_cdf(confidence)
    return z * std - mean, std * _NORMAL.pdf(z) / (1.0 - confidence) - mean


class ValueAtRisk:
    """Collects equity returns each candle; refuses new entries while VaR is above `limit_pct`
    (exactly at the limit passes)."""

    name = "var_limit"

    def __init__(self, window: int, confidence: float, method: str, limit_pct: float) -> None:
        if method not in ("historical", "parametric"):
            raise ValueError(f"VaR method must be historical or parametric, got {method!r}")
        self.window = window
        self.confidence = confidence
        self.method = method
        self.limit_pct = limit_pct
        self._returns: deque[float] = deque(maxlen=window)
        self._prev_equity: float | None = None
        self._figures: tuple[float, float] | None = None

    def on_candle(self, candle: Candle, equity: float) -> None:
        prev = self._prev_equity
        self._prev_equity = equity
        if prev is not None and prev > 0.0:
            self._returns.append(equity / prev - 1.0)
            self._figures = None

    def var_es(self) -> tuple[float, float] | None:
        """(VaR, ES) as fractions of equity, or None until the window is full."""
        if len(self._returns) < self.window:
            return None
        if self._figures is None:
            compute = historical_var_es if self.method == "historical" else parametric_var_es
            self._figures = compute(list(self._returns), self.confidence)
        return self._figures

    def refusal(self) -> RiskDecision | None:
        figures = self.var_es()
        if figures is None or figures[0] <= self.limit_pct:
            return None
        var, es = figures
        return reject(f"VaR {var:.3%} ({self.method}, {self.confidence:.1%}, {self.window} candles) is above "
                      f"the limit of {self.limit_pct:.3%} (ES {es:.3%})", self.name,
                      var=var, es=es, limit_pct=self.limit_pct, confidence=self.confidence)

    def figures(self) -> dict[str, float | None]:
        figures = self.var_es()
        return {"var": figures[0] if figures else None, "es": figures[1] if figures else None}

    def snapshot(self) -> dict[str, Any]:
        return {"prev_equity": self._prev_equity, "returns": list(self._returns)}

    def restore(self, data: dict[str, Any]) -> None:
        self._prev_equity = data["prev_equity"]
        self._returns.clear()
        self._returns.extend(data["returns"][-self.window:])
        self._figures = None
