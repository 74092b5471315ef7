"""The reference model: a least-squares autoregression on log returns, refitted on the candles
of each request. Pure numpy, no I/O; `runner.forecast.model_server` serves it over HTTP.

With closes c_0..c_n (oldest first) and log returns r_t = ln(c_t / c_{t-1}), AR(p) is

    r_t = a + b_1 r_{t-1} + ... + b_p r_{t-p} + e_t

fitted by ordinary least squares on every t the window allows (n - p rows). The forecast
iterates it k steps ahead, each predicted return fed back as the next step's lag, where k is the
horizon in candles (rounded up, at least 1), and sums them: L = r^_{n+1} + ... + r^_{n+k}.

- predicted_return = exp(L) - 1, clipped to +-`MAX_RETURN` (an explosive fit on a short window
  can iterate to anything; the contract refuses more than 100%);
- direction = the sign of predicted_return (0 only when it is exactly 0);
- confidence = erf(z / sqrt 2), where z = |L| / (s sqrt k) and s is the residuals' standard
  deviation (rows - p - 1 degrees of freedom): the forecast's t-statistic against the noise
  the fit leaves over k steps (sqrt k ignores the noise the lags carry forward: an approximation),
  mapped to [0, 1] as 2 Phi(z) - 1, the chance under the fitted model that the move is not noise.
  The in-sample R^2 was the other candidate; on minute returns it sits near 0.01 for every
  window, so it would put every forecast in the lowest calibration bucket.

Fewer than `2 (p + 1)` rows (too few candles to fit), or returns with no variation, give a flat
forecast with confidence 0: a valid answer that says "nothing to see", so a bot warming up does
not count as a failing model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_ORDER", "MAX_RETURN", "ArForecast", "ar_forecast", "horizon_steps"]

DEFAULT_ORDER = 5
MAX_RETURN = 0.5
"""The largest |predicted_return| the reference model answers (50% over the horizon)."""


@dataclass(frozen=True, slots=True)
class ArForecast:
    predicted_return: float
    direction: int
    confidence: float
    r_squared: float
    rows: int
    """Observations the fit used (0 when there were too few to fit)."""


_NOTHING = ArForecast(predicted_return=0.0, direction=0, confidence=0.0, r_squared=0.0, rows=0)


def horizon_steps(horizon_secs: int, timeframe_ms: int) -> int:
    """The horizon in candles, rounded up, at least 1: 3600 s of 1m candles is 60."""
    return max(1, math.ceil(horizon_secs * 1000 / timeframe_ms))


def ar_forecast(closes: np.ndarray, *, steps: int, order: int = DEFAULT_ORDER) -> ArForecast:
    """Fit AR(`order`) to the log returns of `closes` (oldest first, all > 0) and forecast the
    cumulative return over the next `steps` candles; see the module docstring."""
    if order < 1 or steps < 1:
        raise ValueError(f"order and steps must be >= 1, got {order}, {steps}")
    returns = np.diff(np.log(np.asarray(closes, dtype=np.float64)))
    rows = returns.size - order
    if rows < 2 * (order + 1) or not np.all(np.isfinite(returns)):
        return _NOTHING
    # Row i predicts returns[order + i] from the `order` returns before it, most recent first.
    lags = np.column_stack([returns[order - j - 1: order - j - 1 + rows] for j in range(order)])
    design = np.column_stack([np.ones(rows), lags])
    target = returns[order:]
    if float(np.ptp(target)) == 0.0:
        return _NOTHING
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residuals = target - design @ coef
    ssr = float(residuals @ residuals)
    sst = float(((target - target.mean()) ** 2).sum())
    r_squared = min(1.0, max(0.0, 1.0 - ssr / sst)) if sst > 0 else 0.0

    history = list(returns[-order:][::-1])  # most recent first
    cumulative = 0.0
    for _ in range(steps):
        step = float(coef[0] + np.dot(coef[1:], history))
        if not math.isfinite(step) or abs(cumulative + step) > 10.0:
            cumulative = math.copysign(10.0, cumulative + step if math.isfinite(step) else cumulative or 1.0)
            break  # an explosive fit: the clip below decides the answer anyway
        cumulative += step
        history = [step, *history[:-1]]

    predicted = max(-MAX_RETURN, min(MAX_RETURN, math.expm1(cumulative)))
    sigma = math.sqrt(ssr / max(1, rows - order - 1))
    if sigma > 0:
        confidence = math.erf(abs(cumulative) / (sigma * math.sqrt(steps)) / math.sqrt(2.0))
    else:
        confidence = 1.0 if cumulative != 0 else 0.0  # a perfect fit: no noise to doubt it
    direction = (predicted > 0) - (predicted < 0)
    return ArForecast(predicted_return=predicted, direction=direction, confidence=min(1.0, max(0.0, confidence)),
                      r_squared=r_squared, rows=rows)
