"""Candles with a known best SMA cross planted in them, and a bot config that reads them.

The price is a zigzag trend (legs of `leg` candles, up and down by `slope` a candle) plus a
cycle of `period` candles. A simple average over a whole number of periods cancels the cycle,
so with `period` 7: only `fast` = 7 (in 2..20) stops the fast line swinging with the cycle,
and, among the slow lengths searched (multiples of 7), 14 is the shortest and lags least. Fees
(0.5% a side) make trading the cycle itself a loss. So `fast=2:20, slow=7:70:7` has one clear
best pair, (7, 14): Sharpe 26.4 against 21.8 for the next, (7, 21), on 3,000 candles.

`regime_change` switches the cycle to another period part-way: (7, 14) then swings with it.
"""

from __future__ import annotations

import math
from pathlib import Path

from market.models import Candle, iso_utc

PLANTED_BEST = {"fast": 7, "slow": 14}
SPACE = ["fast=2:20", "slow=7:70:7"]
_START_MS = 1_640_995_200_000          # 2022-01-01


def planted_candles(count: int = 3000, *, period: int = 7, leg: int = 70, slope: float = 0.4,
                    amplitude: float = 6.0, regime_change: tuple[int, int] | None = None) -> list[Candle]:
    """`regime_change=(at, period)`: from candle `at` on, the cycle has that period instead."""
    closes, level = [], 1000.0
    for t in range(count):
        level += slope if (t // leg) % 2 == 0 else -slope
        cycle = period if regime_change is None or t < regime_change[0] else regime_change[1]
        closes.append(level + amplitude * math.sin(2 * math.pi * t / cycle))
    candles, previous = [], closes[0]
    for t, close in enumerate(closes):
        candles.append(Candle(_START_MS + t * 60_000, previous, max(previous, close) * 1.0001,
                              min(previous, close) * 0.9999, close, 1.0))
        previous = close
    return candles


def write_candles(candles: list[Candle], path: Path) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{iso_utc(c.ts_ms)},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}" for c in candles]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_bot(folder: Path, candles_path: Path, *, fast: int = 10, slow: int = 30) -> Path:
    path = folder / "planted.yaml"
    path.write_text(
        "id: planted\nsymbol: BTC/USD\ntimeframe: 1m\ncapital: 10000\n"
        f"market: {{source: csv, path: {candles_path}}}\n"
        f"strategy: {{name: sma_cross, params: {{fast: {fast}, slow: {slow}}}}}\n"
        "risk: {stake_pct: 0.99}\nexecution: {fee_rate: 0.005, slippage_bps: 0}\n")
    return path
