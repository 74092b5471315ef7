"""The incremental indicators give ta's numbers, candle by candle.

Compared after warm-up with a relative tolerance of 1e-9; before it, an indicator returns None
exactly where ta gives NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta

from strategies.indicators import EMA, RSI, SMA, Bollinger

RTOL = 1e-9
PERIODS = [1, 2, 3, 14, 20, 26, 200]


def assert_matches(ours: np.ndarray, theirs: pd.Series) -> None:
    theirs = theirs.to_numpy(dtype=float)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg="warm-up differs from ta")
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0, equal_nan=True)


@pytest.fixture(params=["generated", "btc"])
def series(request, closes) -> pd.Series:
    return pd.Series(closes if request.param == "generated" else request.getfixturevalue("btc_closes"))


@pytest.mark.parametrize("period", PERIODS)
def test_sma_matches_ta_sma_indicator(feed, series, period):
    assert_matches(feed(SMA(period), series), ta.trend.SMAIndicator(series, period).sma_indicator())


@pytest.mark.parametrize("period", PERIODS)
def test_ema_matches_ta_ema_indicator(feed, series, period):
    assert_matches(feed(EMA(period), series), ta.trend.EMAIndicator(series, period).ema_indicator())


@pytest.mark.parametrize("period", PERIODS)
def test_rsi_matches_ta_rsi_indicator(feed, series, period):
    assert_matches(feed(RSI(period), series), ta.momentum.RSIIndicator(series, period).rsi())


def test_rsi_first_value_comes_after_period_closes_and_is_100_on_a_flat_series():
    # ta's quirks, kept: the first close counts as a zero change, and no loss means 100.
    rsi = RSI(3)
    assert [rsi.update(5.0) for _ in range(4)] == [None, None, 100.0, 100.0]
    assert ta.momentum.RSIIndicator(pd.Series([5.0] * 4), 3).rsi().tolist()[2:] == [100.0, 100.0]


def bands(period: int, dev: float, values) -> dict[str, np.ndarray]:
    bollinger, out = Bollinger(period, dev), {"middle": [], "upper": [], "lower": [], "std": []}
    for x in values:
        ready = bollinger.update(x) is not None
        for name, column in out.items():
            column.append(getattr(bollinger, name) if ready else np.nan)
    return {name: np.array(column) for name, column in out.items()}


@pytest.mark.parametrize("period, dev", [(2, 2.0), (3, 1.5), (20, 2.0), (20, 0.5), (50, 3.0)])
def test_bollinger_matches_ta_bollinger_bands_except_on_flat_windows(series, period, dev):
    ours = bands(period, dev, series)
    theirs = ta.volatility.BollingerBands(series, period, dev)
    assert_matches(ours["middle"], theirs.bollinger_mavg())
    # On a window of equal closes the true std is 0. Ours is; pandas' rolling std keeps the
    # rounding residue of everything that passed through the window (~3e-6 at a price of 100),
    # which moves the bands by ~1e-7 relative: more than RTOL, so those windows are checked apart.
    flat = (series.rolling(period).max() == series.rolling(period).min()).to_numpy()
    assert (ours["std"][flat] == 0).all() and (ours["upper"][flat] == ours["middle"][flat]).all()
    assert_matches(ours["upper"][~flat], theirs.bollinger_hband()[~flat])
    assert_matches(ours["lower"][~flat], theirs.bollinger_lband()[~flat])
