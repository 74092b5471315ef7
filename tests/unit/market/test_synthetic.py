"""generate_candles: reproducible, consistent, and with regimes a crossover can trade."""

from __future__ import annotations

import numpy as np
import pytest

from market.models import timeframe_ms
from market.synthetic import generate_candles


def test_the_same_seed_gives_the_same_candles():
    assert generate_candles(count=2000, seed=7) == generate_candles(count=2000, seed=7)


def test_other_seeds_give_other_candles():
    closes = {tuple(c.close for c in generate_candles(count=500, seed=seed)) for seed in range(5)}

    assert len(closes) == 5


def test_zero_candles_is_an_empty_list():
    assert generate_candles(count=0) == []


@pytest.mark.parametrize("volatility", [0.002, 0.05, 0.49])
def test_candles_are_consistent(volatility):
    candles = generate_candles(count=20_000, seed=11, volatility=volatility, start_price=30_000.0)
    ts, open_, high, low, close, volume = np.array(candles).T

    assert np.isfinite(np.array(candles)).all()
    assert (low > 0).all() and (volume > 0).all()
    assert (low <= np.minimum(open_, close)).all() and (high >= np.maximum(open_, close)).all()
    assert open_[0] == 30_000.0 and (open_[1:] == close[:-1]).all()


def test_candles_are_one_timeframe_apart_from_start():
    candles = generate_candles(count=50, timeframe="15m", start_ms=1_000_000_000_000)

    assert [c.ts_ms for c in candles] == [1_000_000_000_000 + i * timeframe_ms("15m") for i in range(50)]
    assert all(type(c.ts_ms) is int and type(c.close) is float for c in candles)


def test_regimes_change_volatility_and_direction():
    closes = np.array([c.close for c in generate_candles(count=45_000, seed=42)])
    returns = np.diff(np.log(closes))
    window_std = returns[: len(returns) // 500 * 500].reshape(-1, 500).std(axis=1)
    window_moves = np.log(closes[1000::1000] / closes[:-1000:1000])

    assert window_std.max() > 3 * window_std.min()
    assert window_moves.max() > 0.05 and window_moves.min() < -0.05


def test_nonsense_arguments_are_refused():
    with pytest.raises(ValueError):
        generate_candles(count=-1)
    with pytest.raises(ValueError):
        generate_candles(count=10, start_price=0)
    with pytest.raises(ValueError, match="bad timeframe"):
        generate_candles(count=10, timeframe="1x")
