"""The Sharpe ratio without numpy gives numpy's figure to the bit (`runner.backtest.sharpe`).

A backtest's Sharpe ratio was numpy's mean over its sample std; the plain-Python one must keep
every report and golden record as it was, so it is compared with numpy exactly, not within a
tolerance: its sums must add in numpy's pairwise order.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from runner.backtest.sharpe import numpy_sum, sharpe_ratio

YEAR_MS = 365 * 86_400_000


def numpy_sharpe(curve: list[float], bar_ms: int, capital: float) -> float:
    """The figure as numpy gave it (the code this module replaced)."""
    if len(curve) < 2:
        return 0.0
    equity = np.asarray([capital, *curve], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(equity) / equity[:-1]
        std = returns.std(ddof=1)
        if not std > 0:
            return 0.0
        return float(returns.mean() / std * math.sqrt(YEAR_MS / bar_ms))


# Around numpy's run of 8 lanes and its block of 128, where the order of the additions changes.
LENGTHS = [*range(1, 140), 255, 256, 257, 1_000, 8_193, 45_031]


@pytest.mark.parametrize("length", LENGTHS)
def test_a_sum_is_numpys_to_the_bit(length):
    draw = random.Random(length)
    # Magnitudes from 1e-8 to 1e8 and both signs: a sum whose bits depend on the order.
    values = [draw.uniform(-1, 1) * 10 ** draw.randint(-8, 8) for _ in range(length)]

    assert numpy_sum(values) == float(np.add.reduce(np.array(values)))


@pytest.mark.parametrize("length", [2, 3, 9, 130, 2_000, 45_031])
def test_the_sharpe_ratio_of_an_equity_curve_is_numpys_to_the_bit(length):
    draw = random.Random(length)
    curve, equity = [], 1_000.0
    for _ in range(length):
        equity *= 1 + draw.gauss(0.0, 0.002)
        curve.append(equity)

    for bar_ms in (60_000, 3_600_000):
        assert sharpe_ratio(curve, bar_ms, 1_000.0) == numpy_sharpe(curve, bar_ms, 1_000.0)


@pytest.mark.parametrize("curve", [[1_000.0, 1_000.0], [1_050.0], [], [0.0, 5.0, 6.0], [500.0, 0.0, 0.0],
                                   [-0.0, 0.0, 1.0], [float("nan"), 1.0, 2.0]],
                         ids=["flat", "one return", "no returns", "zero equity", "wiped out", "negative zero", "nan"])
def test_curves_with_no_sharpe_ratio_give_zero_as_numpy_did(curve):
    assert sharpe_ratio(curve, 60_000, 1_000.0) == numpy_sharpe(curve, 60_000, 1_000.0) == 0.0
