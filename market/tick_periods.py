"""Which candle a trade belongs to: periods aligned to UTC boundaries, shared by tick files and
the live trade feed so both cut time the same way (and the way exchanges cut their klines).

A period of `timeframe_ms` starts at a multiple of it since the epoch (1970-01-01T00:00Z), so
minutes, hours and days start on UTC boundaries; a week starts on Monday 00:00 UTC, as
Binance's 1w klines do (the epoch was a Thursday, hence the four-day shift).
"""

from __future__ import annotations

_WEEK_MS = 604_800_000
_MONDAY_SHIFT_MS = 4 * 86_400_000   # 1970-01-05 was the first Monday


def period_shift_ms(timeframe_ms: int) -> int:
    """How far periods of `timeframe_ms` are shifted from the epoch: Monday for weeks, else 0."""
    return _MONDAY_SHIFT_MS if timeframe_ms == _WEEK_MS else 0


def period_open_ms(ts_ms: int, timeframe_ms: int) -> int:
    """Open time of the period holding `ts_ms`: `period_open_ms(90_500, 60_000) == 60_000`."""
    shift = period_shift_ms(timeframe_ms)
    return (ts_ms - shift) // timeframe_ms * timeframe_ms + shift
