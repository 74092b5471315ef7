"""SMA and Bollinger are exact: the mean (and variance) of the window's values, rounded once.

The reference is rational arithmetic: `float(sum(Fraction(x) for x in window) / period)`.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from itertools import accumulate

import pytest

from strategies.indicators import SMA, Bollinger


def exact_mean(window: list[float]) -> Fraction:
    return sum(map(Fraction, window)) / len(window)


def exact_rolling_means(values: list[float], period: int) -> list[float | None]:
    """`float(exact_mean(window))` for every window, from exact prefix sums (same numbers,
    far fewer Fraction additions)."""
    prefix = list(accumulate(map(Fraction, values), initial=Fraction(0)))
    means = [float((prefix[t + 1] - prefix[t + 1 - period]) / period) for t in range(period - 1, len(values))]
    return [None] * (period - 1) + means


def wide_random_values(n: int, seed: int) -> list[float]:
    """Prices from 1e-8 to 1e5 with flat stretches and sign changes mixed in: the sums then
    need far more than 53 bits, and a float running sum would drift."""
    rng = random.Random(seed)
    values: list[float] = []
    while len(values) < n:
        kind = rng.random()
        if kind < 0.15:
            values.extend([rng.choice(values or [1.0])] * rng.randint(2, 60))  # flat stretch
        elif kind < 0.2:
            values.append(-rng.uniform(0, 10))
        else:
            values.append(rng.uniform(1, 10) * 10.0 ** rng.randint(-8, 5))
    return values[:n]


@pytest.mark.parametrize("period", [1, 2, 7, 30, 200])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sma_equals_the_correctly_rounded_exact_mean_bit_for_bit(period, seed):
    values = wide_random_values(3_000, seed)
    sma = SMA(period)
    assert [sma.update(x) for x in values] == exact_rolling_means(values, period)
    assert sma.value == float(exact_mean(values[-period:]))


def test_sma_depends_only_on_the_window_not_on_order_or_history():
    window = [0.1, 0.2, 0.3, 1e-8, 12345.678, 0.7]
    expected = float(exact_mean(window))
    for seed in range(20):
        rng = random.Random(seed)
        history = [rng.uniform(-1e5, 1e5) for _ in range(rng.randint(0, 50))]
        shuffled = rng.sample(window, len(window))
        sma = SMA(len(window))
        for x in history + shuffled:
            sma.update(x)
        assert sma.value == expected


def test_sma_of_a_flat_stretch_is_the_price_itself_at_every_period():
    # The reason for exactness: fast and slow SMAs over a flat stretch must tie, not differ by an ulp.
    values = wide_random_values(500, seed=4) + [0.1] * 60
    fast, slow = SMA(10), SMA(30)
    for x in values:
        fast.update(x)
        slow.update(x)
    assert fast.value == slow.value == 0.1


def test_sma_stays_exact_for_subnormal_and_huge_values():
    values = [5e-324, 1e308, 1e-310, -1e308, 3.0, 2.5e-320, 1e308, 1e308]
    sma = SMA(3)
    for t, x in enumerate(values):
        mean = sma.update(x)
        if t >= 2:
            assert mean == float(exact_mean(values[t - 2 : t + 1]))


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_sma_rejects_a_value_that_is_not_finite(value):
    with pytest.raises((ValueError, OverflowError)):
        SMA(3).update(value)


@pytest.mark.parametrize("period", [2, 20, 50])
def test_bollinger_is_the_exact_mean_and_population_std_of_the_window(period):
    values = wide_random_values(1_500, seed=period)
    bands = Bollinger(period, 2.5)
    for t, x in enumerate(values):
        if bands.update(x) is None:
            continue
        window = list(map(Fraction, values[t + 1 - period : t + 1]))
        mean = sum(window) / period
        variance = sum((w - mean) ** 2 for w in window) / period
        std = math.sqrt(float(variance))
        assert (bands.middle, bands.std) == (float(mean), std), f"at {t}"
        assert (bands.upper, bands.lower) == (float(mean) + 2.5 * std, float(mean) - 2.5 * std)


def test_bollinger_bands_collapse_onto_a_flat_price():
    bands = Bollinger(20, 2.0)
    for x in wide_random_values(300, seed=9) + [42.42] * 20:
        bands.update(x)
    assert bands.lower == bands.middle == bands.upper == 42.42 and bands.std == 0.0


@pytest.mark.parametrize("make", [SMA, lambda period: Bollinger(period, 2.0)])
def test_periods_below_one_are_rejected(make):
    with pytest.raises(ValueError, match="period"):
        make(0)
