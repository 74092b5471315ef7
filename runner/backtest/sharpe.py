"""A backtest's Sharpe ratio, in plain Python, to the bit what numpy's mean and std gave.

numpy is not imported for it: a backtest of a candle file imports no numpy otherwise (it costs
the process 0.07 s and up), and 45,000 returns take a few milliseconds here. The figures stay
those of every earlier report and golden record because the sums are numpy's own: pairwise
summation, as numpy adds a float64 array (`pairwise_sum` in numpy's loops_utils.h.src), not
left to right, which rounds differently. tests/unit/runner/test_sharpe.py compares the bits
with numpy's on arrays of many lengths.
"""

from __future__ import annotations

import math
from functools import reduce
from operator import add, mul, sub, truediv

_BLOCK = 128   # numpy's PW_BLOCKSIZE: a run this long or shorter is summed in eight lanes
_YEAR_MS = 365 * 86_400_000


def sharpe_ratio(equity_curve: list[float], bar_ms: int, initial_capital: float) -> float:
    """Annualized Sharpe ratio of per-bar returns (risk-free rate 0); 0 when returns are flat.

    numpy's `returns.mean() / returns.std(ddof=1) * sqrt(year_ms / bar_ms)`, with the returns
    `diff(equity) / equity[:-1]` of `[initial_capital, *equity_curve]`."""
    if len(equity_curve) < 2:
        return 0.0
    equity = [float(initial_capital), *equity_curve]
    if 0.0 in equity[:-1]:      # numpy's returns would hold an infinity or a NaN, and so its std
        return 0.0
    returns = list(map(truediv, map(sub, equity[1:], equity), equity))
    n = len(returns)
    mean = numpy_sum(returns) / n
    deviations = [r - mean for r in returns]
    std = math.sqrt(numpy_sum(list(map(mul, deviations, deviations))) / (n - 1))
    if not std > 0:
        return 0.0
    return mean / std * math.sqrt(_YEAR_MS / bar_ms)


def numpy_sum(values: list[float]) -> float:
    """`numpy.sum` of a float64 array of `values`, to the bit: halves (cut at a multiple of 8)
    summed apart down to runs of at most 128, a run summed in eight interleaved lanes."""
    return _pairwise(values, 0, len(values))


def _pairwise(values: list[float], start: int, n: int) -> float:
    if n < 8:
        total = -0.0                     # numpy starts from -0.0, so that a sum of -0.0 stays -0.0
        for value in values[start:start + n]:
            total += value
        return total
    if n <= _BLOCK:
        whole = start + n - n % 8
        lane = [reduce(add, values[start + j:whole:8]) for j in range(8)]
        total = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]))
        for value in values[whole:start + n]:
            total += value
        return total
    half = n // 2
    half -= half % 8
    return _pairwise(values, start, half) + _pairwise(values, start + half, n - half)
