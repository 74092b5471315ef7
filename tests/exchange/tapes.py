"""Candle tapes for the stand-in to replay."""

from __future__ import annotations

import math

T0_MS = 1_704_067_200_000           # 2024-01-01T00:00:00Z
MINUTE_MS = 60_000


def wavy_candles(count: int, *, start_ms: int = T0_MS) -> list[tuple[int, float, float, float, float, float]]:
    """1m candles whose closes swing around 30,000, so a short crossover trades every few dozen
    candles; each opens at the previous close, with wicks 10 beyond the body."""
    out, prev = [], 30_000.0
    for i in range(count):
        close = 30_000.0 + 400 * math.sin(i / 9) + 150 * math.sin(i / 2.3)
        out.append((start_ms + i * MINUTE_MS, prev, max(prev, close) + 10, min(prev, close) - 10, close, 5.0))
        prev = close
    return out
