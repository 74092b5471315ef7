"""The replayed market the stand-in tests use, with a known shape so expected fills are exact.

The clock starts at candle `NOW_INDEX`: closes rise by 10 a candle up to it (30600), then fall
by 20 a candle; highs and lows sit 25 beyond each candle's body.
"""

from __future__ import annotations

T0_MS = 1_704_067_200_000           # 2024-01-01T00:00:00Z
STEP_MS = 60_000
NOW_INDEX = 60                      # the clock starts when candle 60 opens: 61 candles are visible


def close_at(i: int) -> float:
    """Closes rise by 10 up to candle 60 (30600), then fall by 20 a candle."""
    return 30_000.0 + 10 * i if i <= NOW_INDEX else 30_600.0 - 20 * (i - NOW_INDEX)


def make_candles(count: int = 120) -> list[tuple[int, float, float, float, float, float]]:
    """1m candles: open = previous close, high/low 25 beyond the body, volume 1 + i/100."""
    candles = []
    for i in range(count):
        o, c = close_at(i - 1) if i else 30_000.0, close_at(i)
        candles.append((T0_MS + i * STEP_MS, o, max(o, c) + 25, min(o, c) - 25, c, 1 + i / 100))
    return candles


def candle_ms(i: int) -> int:
    return T0_MS + i * STEP_MS
