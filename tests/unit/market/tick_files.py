"""Tick files whose trades aggregate to known candles, for the tick tests."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from market.models import Candle, iso_utc


def candle_trades(candle: Candle, timeframe_ms: int) -> list[tuple[int, float, float]]:
    """Four trades (ts_ms, price, volume) inside `candle`'s period whose candle is `candle`:
    the open, the extreme away from the close, the other extreme, the close. The volume goes
    in halves to the first two (v/2 + v/2 is v exactly in floats, so sums match the file's)."""
    step = timeframe_ms // 4
    first, second = (candle.high, candle.low) if candle.close < candle.open else (candle.low, candle.high)
    half = candle.volume / 2
    prices_volumes = ((candle.open, half), (first, half), (second, 0.0), (candle.close, 0.0))
    return [(candle.ts_ms + k * step, price, volume) for k, (price, volume) in enumerate(prices_volumes)]


def write_tick_file(path: Path, candles: Sequence[Candle], timeframe_ms: int, *, symbol: str = "BTC/USDT",
                    iso: bool = False, header: str = "datetime,symbol,price,volume") -> Path:
    """A tick file of `candle_trades` for every candle; datetimes as epoch ms or ISO 8601."""
    lines = [header]
    for candle in candles:
        for ts, price, volume in candle_trades(candle, timeframe_ms):
            when = iso_ms(ts) if iso else str(ts)
            lines.append(f"{when},{symbol},{price!r},{volume!r}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def iso_ms(ts_ms: int) -> str:
    """`2024-01-01T00:00:15.250Z`: ISO 8601 with milliseconds."""
    return f"{iso_utc(ts_ms)[:-1]}.{ts_ms % 1000:03d}Z"
