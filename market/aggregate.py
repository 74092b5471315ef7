"""Candles of a higher timeframe folded from a bot's base candles, as an exchange cuts them.

Periods are aligned to UTC as Binance aligns its klines (intervals are in UTC unless asked
otherwise): a period of P milliseconds opens at a multiple of P since the epoch, so an hour
opens on the hour, 4h at 00:00, 04:00, ... and a day at 00:00 UTC; a week opens on Monday
00:00 UTC (the epoch was a Thursday, hence a four-day shift; Binance's own docs show a 1w kline
opening 2017-07-03T00:00Z, a Monday). A higher candle is the base candles whose open time falls
in its period: the first one's open, the highest high, the lowest low, the last one's close and
the volumes summed.

When a higher candle is handed out, so never a partial one:

- on the base candle that completes its period (open time + base length = the period's end):
  the last 1m candle of an hour closes that hour's candle;
- or, when the period's last base candles are missing (a gap), on the first base candle of a
  later period, which shows the period has ended. Nothing is handed out for a period with no
  base candle at all (an outage), as exchanges serve no kline for it.

A period with base candles missing inside it is built from the ones that arrived, and says how
many (`Period.parts` below `Aggregator.ratio`): the exchange's own candle would hold the trades
of the missing minutes too, which the bot never saw. The first period of a stream whose start
the aggregator did not see (data or history that begins mid-hour) is dropped: its open and
volume would be wrong for a reason that is not the market's (a stream whose very first base
candle is missing looks the same, and loses that period too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from market.models import Candle, timeframe_ms
from market.tick_periods import period_open_ms   # the one rule for UTC periods, shared with tick files

__all__ = ["Aggregator", "Period", "higher_timeframes", "period_open_ms", "timeframe_ratio"]


def timeframe_ratio(base: str, higher: str) -> int:
    """How many `base` candles one `higher` candle spans: `timeframe_ratio("5m", "1h") == 12`.

    Raises ValueError unless `higher` is longer than `base` and a whole multiple of it (every
    `higher` period then starts on a `base` boundary: weeks start on Monday 00:00, a multiple of
    any base up to a day)."""
    base_ms, higher_ms = timeframe_ms(base), timeframe_ms(higher)
    if higher_ms <= base_ms or higher_ms % base_ms:
        raise ValueError(f"{higher} is not a whole multiple of the bot's timeframe {base} above it")
    return higher_ms // base_ms


def higher_timeframes(base: str, candidates: Iterable[str]) -> list[str]:
    """The `candidates` a bot on `base` can read as higher timeframes, in their order."""
    base_ms = timeframe_ms(base)
    return [tf for tf in candidates if timeframe_ms(tf) > base_ms and not timeframe_ms(tf) % base_ms]


class Period(NamedTuple):
    """A closed higher-timeframe candle, and how many base candles it was built from."""

    candle: Candle
    parts: int


class Aggregator:
    """Folds one stream's base candles, fed once each in time order, into closed `Period`s of
    a higher timeframe (see the module docstring for when each comes out).

        hourly = Aggregator("1m", "1h")
        for candle in minutes:
            for period in hourly.update(candle):   # () on most candles
                ...
    """

    __slots__ = ("ratio", "closed", "incomplete", "_base_ms", "_period_ms", "_open_ms", "_end_ms", "_high", "_low",
                 "_close", "_volume", "_open", "_parts", "_first", "_drop")

    def __init__(self, base: str, higher: str) -> None:
        self.ratio = timeframe_ratio(base, higher)
        self.closed = 0                    # periods handed out
        self.incomplete = 0                # of which built with base candles missing
        self._base_ms = timeframe_ms(base)
        self._period_ms = timeframe_ms(higher)
        self._open_ms = 0
        self._end_ms = -1                  # the first candle starts a period
        self._open = self._high = self._low = self._close = self._volume = 0.0
        self._parts = 0                    # base candles in the open period; 0 when none is open
        self._first = True                 # no period opened yet
        self._drop = False                 # the open period is the stream's first, begun after its start

    def update(self, candle: Candle) -> tuple[Period, ...]:
        """The periods `candle` shows to be closed, oldest first: most often none, one at a
        period's last base candle, two after a gap that ended on a period's last candle."""
        ts_ms = candle.ts_ms
        if ts_ms < self._end_ms:                     # the common case: inside the open period
            if candle.high > self._high:
                self._high = candle.high
            if candle.low < self._low:
                self._low = candle.low
            self._close = candle.close
            self._volume += candle.volume
            self._parts += 1
            if ts_ms + self._base_ms == self._end_ms:
                return self._finish()
            return ()
        ended = self._finish() if self._parts else ()          # its last base candles never came
        open_ms = period_open_ms(ts_ms, self._period_ms)
        self._drop, self._first = self._first and ts_ms != open_ms, False
        self._open_ms, self._end_ms, self._parts = open_ms, open_ms + self._period_ms, 1
        _, self._open, self._high, self._low, self._close, self._volume = candle
        if ts_ms + self._base_ms == self._end_ms:
            return ended + self._finish()
        return ended

    def _finish(self) -> tuple[Period, ...]:
        parts, self._parts = self._parts, 0
        if self._drop:                      # the stream began inside this period: its start is unknown
            self._drop = False
            return ()
        self.closed += 1
        if parts < self.ratio:
            self.incomplete += 1
        return (Period(Candle(self._open_ms, self._open, self._high, self._low, self._close, self._volume), parts),)
