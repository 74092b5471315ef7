"""Market data types that travel the hot path: plain tuples, no validation on creation.

Validation happens once, where candles enter the process (`market.validation`); after that a
`Candle` is trusted and cheap (a named tuple: ~100 ns to create, C-speed field access).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class Candle(NamedTuple):
    """One closed OHLCV candle. `ts_ms` is the candle's open time in epoch milliseconds (UTC)."""

    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def timeframe_ms(timeframe: str) -> int:
    """Length of a ccxt-style timeframe in milliseconds: `timeframe_ms("15m") == 900_000`.

    Raises ValueError for anything that is not a positive count followed by s, m, h, d or w.
    """
    count, unit = timeframe[:-1], timeframe[-1:]
    if unit not in _UNIT_MS or not count.isdigit() or int(count) <= 0:
        raise ValueError(f"bad timeframe {timeframe!r}: expected a count and a unit (s, m, h, d, w), e.g. '1m', '4h'")
    return int(count) * _UNIT_MS[unit]


def iso_utc(ts_ms: int) -> str:
    """Epoch milliseconds as `2022-01-01T00:00:00Z`, the form used in messages and files. A time
    no calendar date holds (before year 1 or past 9999: a bad file's timestamp being reported)
    is given as its milliseconds, so the message about it can still be made."""
    try:
        return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"{ts_ms} ms since 1970"
