"""Fixtures for the strategy tests: generated prices, the shared candle files, and drivers that
feed values to an indicator or candles to a strategy the way the runner does.

(Helpers are fixtures because pytest runs with --import-mode=importlib: test modules cannot
import a helper module that sits beside them.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.models import Candle
from market.view import MarketView
from strategies.base import Strategy
from strategies.signal import Signal

def random_closes(n: int = 4_000, *, seed: int = 7, flat_stretches: int = 6) -> list[float]:
    """A seeded random walk around 100, in cents like a real quote (so full 53-bit mantissas
    and many equal values), with flat stretches longer than any default period: there, moving
    averages tie exactly and the crossing rules meet their edge cases."""
    rng = np.random.default_rng(seed)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, n)))
    for start in rng.choice(n - 100, size=flat_stretches, replace=False):
        closes[start : start + int(rng.integers(35, 90))] = closes[start]
    return np.round(closes, 2).tolist()


def candles_from_closes(closes: Iterable[float], *, start_ms: int = 1_640_995_200_000) -> list[Candle]:
    """One-minute candles with these closes (each opens at the previous close)."""
    candles, previous = [], None
    for i, close in enumerate(closes):
        open_ = close if previous is None else previous
        candles.append(Candle(start_ms + 60_000 * i, open_, max(open_, close), min(open_, close), close, 1.0))
        previous = close
    return candles


def run_strategy(strategy: Strategy, closes: Iterable[float]) -> list[Signal | None]:
    """The strategy's answer after each candle, called once per closed candle, in order."""
    view = MarketView("TEST/USD", "1m")
    signals = []
    for candle in candles_from_closes(closes):
        view.push(candle)
        signals.append(strategy.generate_signal(view))
    return signals


def run_indicator(indicator, values: Iterable[float]) -> np.ndarray:
    """`indicator.update` over `values`, None as NaN (ta's marker for "no value yet")."""
    return np.array([np.nan if (v := indicator.update(x)) is None else v for x in values])


@pytest.fixture(scope="session")
def closes() -> list[float]:
    return random_closes()


@pytest.fixture(scope="session")
def btc_closes(shared_data: Path) -> list[float]:
    """Closes of 45,031 real one-minute BTC/USD candles (January 2022), from `../shared/data`
    (the `shared_data` fixture: skipped without it, failed on CI)."""
    path = shared_data / "BTC_USD-1m-2022-01.csv"
    return pd.read_csv(path, usecols=["close"])["close"].astype(float).tolist()


@pytest.fixture
def drive() -> Callable[[Strategy, Iterable[float]], list[Signal | None]]:
    return run_strategy


@pytest.fixture
def feed() -> Callable[..., np.ndarray]:
    return run_indicator
