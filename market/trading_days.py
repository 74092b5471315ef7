"""`TradingDays`: time cut into days at a wall-clock minute of a time zone, DST-proof.

The one day-cutter of the project, wherever a day starts somewhere other than UTC midnight: a
trading session's days (`market.session.TradingSession.day_of`, which the daily risk rules
count), the day a `vwap:day` feature restarts at for a bot with a session, and when the daemon's
daily summary is due (`runner.notify.daily`).

A day starts at `start_minute` past local midnight of `zone` (0: midnight; a session crossing
midnight starts its day at its open) and runs to that minute of the next local date, so across
a daylight-saving change it lasts 23 or 25 hours. Its number (`day_of`) is the days since
1970-01-01 of the local date it starts on: with UTC and minute 0 that is `ts_ms // 86_400_000`,
so a saved day number means the same thing with or without a zone. A start time the clocks skip
(02:30 on the spring-forward night in New York) is read with the offset before the change; one
they pass twice is its first occurrence (PEP 495's `fold=0`).

The day computed last is kept while the time stays inside it, so a replay converts times with
zoneinfo about twice per day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["TradingDays", "utc_ms"]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


class TradingDays:
    """Days of `zone` starting `start_minute` (0..1439) minutes past local midnight.

    >>> days = TradingDays("America/New_York")
    >>> days.day_of(1_773_115_200_000) - days.day_of(1_773_115_199_999)   # 2026-03-10 04:00 UTC: midnight EDT
    1
    """

    __slots__ = ("zone", "start_minute", "_start", "_cache")

    def __init__(self, zone: str | ZoneInfo, start_minute: int = 0) -> None:
        if not 0 <= start_minute < 1440:
            raise ValueError(f"a day's start must be 0..1439 minutes past midnight, got {start_minute}")
        self.zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        self.start_minute = start_minute
        self._start = timedelta(minutes=start_minute)
        self._cache = (0, 0, 0)              # (start_ms, end_ms, day): the last day computed

    @property
    def key(self) -> tuple[str, int]:
        """Equal for two `TradingDays` that cut the same days (what may share a computation)."""
        return self.zone.key, self.start_minute

    def day_of(self, ts_ms: int) -> int:
        """The day `ts_ms` (UTC milliseconds) falls in: days since 1970-01-01 of its local start date."""
        start_ms, end_ms, day = self._cache
        if start_ms <= ts_ms < end_ms:
            return day
        return self._compute(ts_ms)[2]

    def bounds(self, ts_ms: int) -> tuple[int, int]:
        """(start_ms, end_ms) of the day `ts_ms` falls in: `end_ms` is after `ts_ms`, and `start_ms`
        at or before it (but in the hour after a start time the clocks skipped)."""
        start_ms, end_ms, _ = self._cache
        if start_ms <= ts_ms < end_ms:
            return start_ms, end_ms
        start_ms, end_ms, _ = self._compute(ts_ms)
        return start_ms, end_ms

    def _compute(self, ts_ms: int) -> tuple[int, int, int]:
        local_day = (datetime.fromtimestamp(ts_ms / 1000, tz=self.zone) - self._start).date()   # wall clock: DST-proof
        day = local_day.toordinal() - _EPOCH_ORDINAL
        start_ms = utc_ms(self.zone, local_day, self.start_minute)
        end_ms = utc_ms(self.zone, local_day + timedelta(days=1), self.start_minute)
        if start_ms <= ts_ms < end_ms:       # not so only where a DST gap holds the day's start
            self._cache = (start_ms, end_ms, day)
        return start_ms, end_ms, day


def utc_ms(zone: ZoneInfo, day: date, minute: int) -> int:
    """UTC milliseconds of `minute` minutes past local midnight of `day` in `zone` (wall-clock arithmetic)."""
    wall = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
    return (wall - _EPOCH) // _ONE_MS        # exact: no float seconds
