"""Each strategy's signals equal an independent, vectorized computation of its rule.

References are whole-series computations (ta, pandas, numpy; exact rationals for sma_cross),
compared with the strategy driven one closed candle at a time.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import accumulate

import numpy as np
import pandas as pd
import pytest
import ta

from strategies.bollinger_breakout import BollingerBreakout
from strategies.ema_cross import EmaCross
from strategies.rsi_reversion import RsiReversion
from strategies.signal import GO_FLAT, GO_LONG
from strategies.sma_cross import SmaCross


def crossings(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+1 where `a` crosses above `b` (a[t] > b[t] and a[t-1] <= b[t-1]), -1 where it crosses
    below (a[t] < b[t] and a[t-1] >= b[t-1]), else 0. NaN (warm-up) compares false: 0."""
    a_before, b_before = np.r_[np.nan, a[:-1]], np.r_[np.nan, b[:-1]]
    up = (a > b) & (a_before <= b_before)
    down = (a < b) & (a_before >= b_before)
    return up.astype(int) - down.astype(int)


def directions(signals) -> np.ndarray:
    """+1 for GO_LONG, -1 for GO_FLAT, 0 for None; and only ever those shared constants."""
    assert all(s is None or s is GO_LONG or s is GO_FLAT for s in signals)
    return np.array([0 if s is None else (1 if s is GO_LONG else -1) for s in signals])


def exact_sma(values: list[float], period: int) -> np.ndarray:
    prefix = list(accumulate(map(Fraction, values), initial=Fraction(0)))
    means = [float((prefix[t + 1] - prefix[t + 1 - period]) / period) for t in range(period - 1, len(values))]
    return np.r_[np.full(period - 1, np.nan), means]


def near_tie(a: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Bars where a and b, at t or at t-1, differ but by less than `rtol` (relative): there a
    last-bit difference between two correct implementations may flip the comparison."""
    close = (a != b) & (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)))
    return close | np.r_[False, close[:-1]]


def assert_nontrivial(expected: np.ndarray) -> None:
    assert (expected == 1).sum() >= 5 and (expected == -1).sum() >= 5, "the data must exercise both signals"


@pytest.mark.parametrize("fast, slow", [(10, 30), (2, 3), (5, 50)])
def test_sma_cross_signals_match_exact_moving_averages(drive, closes, fast, slow):
    fast_sma, slow_sma = exact_sma(closes, fast), exact_sma(closes, slow)
    expected = crossings(fast_sma, slow_sma)
    assert_nontrivial(expected)
    assert (fast_sma == slow_sma).sum() > 20, "the data must contain exact ties (flat stretches)"

    got = directions(drive(SmaCross(SmaCross.Params(fast=fast, slow=slow)), closes))

    np.testing.assert_array_equal(got, expected)


def test_sma_cross_counts_leaving_a_tie_to_either_side_as_a_cross(drive):
    # With fast=1 and slow=2, fast - slow is half the last change: its sign per candle from
    # t=1 is below, equal, below, equal, above, equal, below. The rule's "<=" and ">=" make
    # equal-then-below a GO_FLAT even after below (harmless: flat is flat).
    closes = [10.0, 9.0, 9.0, 8.0, 8.0, 9.0, 9.0, 8.0]

    signals = drive(SmaCross(SmaCross.Params(fast=1, slow=2)), closes)

    assert signals == [None, None, None, GO_FLAT, None, GO_LONG, None, GO_FLAT]


def test_sma_cross_can_signal_on_its_last_warmup_candle_but_not_before(drive):
    strategy = SmaCross(SmaCross.Params(fast=2, slow=3))
    signals = drive(strategy, [3.0, 2.0, 1.0, 5.0])
    assert strategy.warmup_bars == 4
    assert signals == [None, None, None, GO_LONG]


@pytest.mark.parametrize("fast, slow", [(12, 26), (2, 3), (5, 50)])
def test_ema_cross_signals_match_ta_ema_crossings(drive, closes, fast, slow):
    series = pd.Series(closes)
    fast_ema = ta.trend.EMAIndicator(series, fast).ema_indicator().to_numpy()
    slow_ema = ta.trend.EMAIndicator(series, slow).ema_indicator().to_numpy()
    expected = crossings(fast_ema, slow_ema)
    assert_nontrivial(expected)
    comparable = ~near_tie(fast_ema, slow_ema, 1e-9)
    assert comparable.mean() > 0.95

    got = directions(drive(EmaCross(EmaCross.Params(fast=fast, slow=slow)), closes))

    np.testing.assert_array_equal(got[comparable], expected[comparable])


@pytest.mark.parametrize("period, oversold, overbought", [(14, 30.0, 70.0), (6, 20.0, 80.0), (30, 45.0, 55.0)])
def test_rsi_reversion_signals_match_ta_rsi_level_crossings(drive, closes, period, oversold, overbought):
    rsi = ta.momentum.RSIIndicator(pd.Series(closes), period).rsi().to_numpy()
    before = np.r_[np.nan, rsi[:-1]]
    expected = ((rsi < oversold) & (oversold <= before)).astype(int) - (
        (rsi > overbought) & (overbought >= before)
    ).astype(int)
    assert_nontrivial(expected)
    comparable = ~(near_tie(rsi, np.full_like(rsi, oversold), 1e-9) | near_tie(rsi, np.full_like(rsi, overbought), 1e-9))

    params = RsiReversion.Params(period=period, oversold=oversold, overbought=overbought)
    got = directions(drive(RsiReversion(params), closes))

    np.testing.assert_array_equal(got[comparable], expected[comparable])


@pytest.mark.parametrize("period, dev", [(20, 2.0), (10, 1.0), (50, 2.5)])
def test_bollinger_breakout_signals_match_ta_band_crossings(drive, closes, period, dev):
    bands = ta.volatility.BollingerBands(pd.Series(closes), period, dev)
    close, upper, middle = np.array(closes), bands.bollinger_hband().to_numpy(), bands.bollinger_mavg().to_numpy()
    long = crossings(close, upper) == 1
    flat = crossings(close, middle) == -1
    expected = np.where(long, 1, np.where(flat, -1, 0))
    assert_nontrivial(expected)
    # ta's rolling std keeps ~1e-7 relative noise on flat windows (see test_indicators_match_ta),
    # so a close within that of a band is a tie that ta and the exact bands may call differently.
    comparable = ~(near_tie(close, upper, 1e-6) | near_tie(close, middle, 1e-6))
    assert comparable.mean() > 0.95

    got = directions(drive(BollingerBreakout(BollingerBreakout.Params(period=period, dev=dev)), closes))

    np.testing.assert_array_equal(got[comparable], expected[comparable])


@pytest.mark.parametrize("strategy", [
    SmaCross(SmaCross.Params()), EmaCross(EmaCross.Params()),
    RsiReversion(RsiReversion.Params()), BollingerBreakout(BollingerBreakout.Params()),
], ids=lambda s: s.name)
def test_no_signal_before_warmup_bars_candles(drive, closes, strategy):
    signals = drive(strategy, closes)
    assert signals[: strategy.warmup_bars - 1] == [None] * (strategy.warmup_bars - 1)
    assert any(signals)
