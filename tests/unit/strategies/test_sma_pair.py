"""`SMAPair` says what comparing two exact `SMA`s says, on every value, without dividing them
out: the same sign of fast - slow (ties included) and the same means when read."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.indicators import SMA
from strategies.sma_pair import SMAPair

BOUNDED = settings(max_examples=200, deadline=None)

# Finite floats of every size (subnormals, 1e308), and repeats of a few, so windows tie.
finite = st.floats(allow_nan=False, allow_infinity=False)
series = st.lists(st.one_of(finite, st.sampled_from([0.1, 46_216.93, 46_217.0, 1e-300, -3.5])), max_size=120)
periods = st.integers(min_value=1, max_value=40)


def sides_of_two_smas(values: list[float], fast: int, slow: int) -> list[int | None]:
    fast_sma, slow_sma = SMA(fast), SMA(slow)
    sides = []
    for x in values:
        a, b = fast_sma.update(x), slow_sma.update(x)
        sides.append(None if a is None or b is None else (a > b) - (a < b))
    return sides


@BOUNDED
@given(series, periods, periods)
def test_the_pair_gives_the_sign_two_smas_give_on_every_value(values, fast, slow):
    pair = SMAPair(fast, slow)
    assert [pair.update(x) for x in values] == sides_of_two_smas(values, fast, slow)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_prices_with_cents_and_flat_stretches_the_pair_agrees_with_two_smas_and_reads_their_means(seed):
    rng = random.Random(seed)
    values: list[float] = []
    while len(values) < 3_000:        # a walk in cents (53-bit scaled values), with ties
        price = round((values[-1] if values else 46_000.0) + rng.uniform(-20, 20), 2)
        values.extend([price] * (rng.randint(31, 45) if rng.random() < 0.02 else 1))
    pair, fast, slow = SMAPair(10, 30), SMA(10), SMA(30)
    for x in values:
        side = pair.update(x)
        a, b = fast.update(x), slow.update(x)
        assert side == (None if b is None else (a > b) - (a < b))
    assert pair.means == (fast.value, slow.value)


def test_means_apart_by_less_than_their_rounding_are_a_tie_as_the_rounded_smas_are():
    # Exactly, the slow mean (1 + 2**-53) is above the fast one (1.0); both round to 1.0. The
    # crossing rule compares the rounded SMAs, so this is a tie, not a move.
    pair = SMAPair(1, 2)
    pair.update(1.0 + 2.0 ** -52)
    assert pair.update(1.0) == 0
    assert pair.means == (1.0, 1.0)


def test_a_value_with_more_fractional_bits_rescales_the_window_exactly():
    values = [4.0, 2.0, 3.0, 0.1, 5e-324]      # K goes 0, 55 (0.1), 1074 (the subnormal)
    pair, fast, slow = SMAPair(2, 3), SMA(2), SMA(3)
    for x in values:
        pair.update(x), fast.update(x), slow.update(x)
    assert pair.means == (fast.value, slow.value) == (0.05, (3.0 + 0.1) / 3)


def test_periods_below_one_are_rejected():
    with pytest.raises(ValueError, match="periods"):
        SMAPair(0, 3)
