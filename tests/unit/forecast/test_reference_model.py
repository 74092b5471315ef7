"""The reference autoregression against a fit done by hand, and its edges: too few candles, no
variation, an explosive fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.forecast.reference_model import MAX_RETURN, ar_forecast, horizon_steps


def ar1_closes(phi: float, n: int, *, last_return: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    returns = np.zeros(n)
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + rng.normal(0, 0.001)
    returns[-1] = last_return
    return 100.0 * np.exp(np.cumsum(returns))


def by_hand(closes: np.ndarray, steps: int) -> float:
    """AR(1) with an intercept by the textbook formulas, iterated `steps` ahead."""
    r = np.diff(np.log(closes))
    x, y = r[:-1], r[1:]
    b = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    a = y.mean() - b * x.mean()
    last, total = r[-1], 0.0
    for _ in range(steps):
        last = a + b * last
        total += last
    return math.expm1(total)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_ar1_matches_the_fit_by_hand(steps):
    closes = ar1_closes(0.6, 200, last_return=0.01)
    result = ar_forecast(closes, steps=steps, order=1)
    assert result.predicted_return == pytest.approx(by_hand(closes, steps), rel=1e-9)
    assert result.direction == 1 and result.rows == 198
    assert 0.0 < result.confidence <= 1.0 and 0.0 <= result.r_squared <= 1.0


def test_a_fall_after_a_drop_in_a_persistent_series_points_down_with_confidence():
    result = ar_forecast(ar1_closes(0.6, 300, last_return=-0.01), steps=1, order=5)
    assert result.direction == -1 and result.predicted_return < 0
    assert result.confidence > 0.9  # a predicted move of several noise deviations


def test_too_few_candles_or_no_variation_give_a_flat_forecast_with_no_confidence():
    for closes in (np.linspace(100, 101, 12), np.full(100, 50.0)):
        result = ar_forecast(closes, steps=60, order=5)
        assert (result.predicted_return, result.direction, result.confidence, result.rows) == (0.0, 0, 0.0, 0)


def test_an_explosive_fit_is_clipped_to_the_limit():
    closes = np.exp(np.cumsum(np.cumsum(np.full(60, 1e-3))))  # returns that grow every candle
    result = ar_forecast(closes, steps=500, order=2)
    assert result.predicted_return == MAX_RETURN and result.direction == 1
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize(("secs", "timeframe_ms", "steps"), [(3600, 60_000, 60), (90, 60_000, 2), (10, 60_000, 1),
                                                             (86_400, 3_600_000, 24)])
def test_horizon_in_candles_rounds_up(secs, timeframe_ms, steps):
    assert horizon_steps(secs, timeframe_ms) == steps
