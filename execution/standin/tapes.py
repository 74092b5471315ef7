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


def quick_swings(count: int, *, start_ms: int, step_ms: int = 1_000) -> list[tuple[int, float, float, float, float, float]]:
    """Candles `step_ms` apart whose closes swing 200 either side of 30,000 every few candles, so
    a 2/4 SMA crossover trades every few seconds on a 1s tape (a daemon test running in real time)."""
    out, prev = [], 30_000.0
    for i in range(count):
        close = 30_000.0 + 200 * math.sin(i * 1.1) + 40 * math.sin(i * 0.37)
        out.append((start_ms + i * step_ms, prev, max(prev, close) + 5, min(prev, close) - 5, close, 5.0))
        prev = close
    return out
