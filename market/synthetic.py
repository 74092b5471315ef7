"""Seeded synthetic candles: a random walk that changes character every so often.

A plain random walk has no trends, so a crossover strategy on it mostly pays fees and a demo
shows nothing. Here the walk runs through regimes of a few hundred to a few thousand candles
each, trending up, trending down, going sideways, or swinging harder or softer than usual,
so a demo or a test sees entries, exits and stop-outs. The same seed gives the same candles
on every machine (numpy's `Generator` streams are stable across platforms).
"""

from __future__ import annotations

import zlib

import numpy as np

from market.models import Candle, timeframe_ms

# name: (drift per candle in units of volatility, volatility multiplier)
_REGIMES = {
    "trend_up": (0.05, 1.0),
    "trend_down": (-0.05, 1.0),
    "sideways": (0.0, 0.6),
    "high_volatility": (0.0, 2.0),
    "low_volatility": (0.0, 0.4),
}
_REGIME_CANDLES = (300, 3000)  # shortest and longest regime, inclusive
# The log price stays within start ± this (a factor of 20 either way): 10 million candles at
# a volatility of 0.4 would otherwise overflow a float.
_LOG_BAND = 3.0


def generate_candles(
    *,
    count: int,
    seed: int = 42,
    timeframe: str = "1m",
    start_ms: int = 1_704_067_200_000,
    start_price: float = 100.0,
    volatility: float = 0.002,
) -> list[Candle]:
    """`count` consistent candles, one `timeframe` apart from `start_ms` (2024-01-01 UTC).

    `volatility` is the standard deviation of a candle's log return in an ordinary regime.
    Each candle opens at the previous close; low <= open, close <= high; prices and volume > 0.
    The same arguments always give the same candles; another seed gives other candles.

    Raises ValueError for a negative count or a non-positive price or volatility.
    """
    if count < 0 or start_price <= 0 or volatility <= 0:
        raise ValueError("need count >= 0, start_price > 0 and volatility > 0; "
                         f"got {count}, {start_price}, {volatility}")
    step_ms = timeframe_ms(timeframe)
    rng = np.random.default_rng(seed)
    per_candle = np.array(list(_REGIMES.values()))[_regime_kinds(rng, count)]
    drift, scale = per_candle[:, 0], per_candle[:, 1]

    sigma = volatility * scale
    log_returns = drift * volatility + sigma * rng.standard_normal(count)
    close = start_price * np.exp(_fold(np.cumsum(log_returns), _LOG_BAND))
    open_ = np.concatenate(([start_price], close[:-1]))
    # Wicks reach past the body by a fraction of the candle's own volatility; multiplying by
    # exp(x >= 0) keeps high >= max(open, close) exactly, also in floating point.
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(count)) * sigma * 0.5)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(count)) * sigma * 0.5)
    # Busier when prices move: volume grows with the size of the candle's move.
    move = np.abs(log_returns) / volatility
    volume = 1000.0 * (0.5 + move) * rng.lognormal(0.0, 0.5, count)

    ts = start_ms + step_ms * np.arange(count, dtype=np.int64)
    columns = (ts, open_, high, low, close, volume)
    return list(map(Candle._make, zip(*(column.tolist() for column in columns))))


def generated_regimes(*, count: int, seed: int = 42) -> list[str]:
    """The regime (a key of `_REGIMES`: "trend_up", "sideways", ...) behind each candle that
    `generate_candles` makes with the same `count` and `seed`: the truth a regime detector is
    measured against. The other arguments of `generate_candles` do not change the regimes."""
    if count < 0:
        raise ValueError(f"need count >= 0, got {count}")
    names = list(_REGIMES)
    return [names[kind] for kind in _regime_kinds(np.random.default_rng(seed), count).tolist()]


def _regime_kinds(rng: np.random.Generator, count: int) -> np.ndarray:
    """Per-candle index into `_REGIMES`, regime by regime. The first draws of `rng`: the
    candles' own draws come after these, so this function must draw exactly as it does."""
    kinds_count = len(_REGIMES)
    lengths, kinds = [], []
    covered, kind = 0, int(rng.integers(kinds_count))
    while covered < count:
        if kinds:  # never the same regime twice running, so each switch changes something
            kind = (kind + int(rng.integers(1, kinds_count))) % kinds_count
        length = int(rng.integers(_REGIME_CANDLES[0], _REGIME_CANDLES[1] + 1))
        lengths.append(length)
        kinds.append(kind)
        covered += length
    return np.repeat(np.array(kinds, dtype=int), lengths)[:count]


def _fold(log_path: np.ndarray, band: float) -> np.ndarray:
    """Reflect a path into [-band, band]: each step keeps its size, and a walk that reaches an
    edge turns back, as a market does at a level it will not cross."""
    return band - np.abs(np.mod(log_path + band, 4 * band) - 2 * band)


def symbol_seed(seed: int, symbol: str) -> int:
    """The seed of `symbol`'s own series in a basket on synthetic candles with `seed`: each
    symbol walks its own way, the same on every machine (crc32, not `hash`, which Python
    salts per process)."""
    return (seed * 1_000_003 + zlib.crc32(symbol.encode())) % 2**63
