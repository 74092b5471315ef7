"""`TradingSession`: the hours a bot trades, in a market's own time zone, and its trading days.

A session opens at `open` and closes at `close` (local wall-clock times of `time_zone`) on each
of its `days`. Times are converted with `zoneinfo`, so an open at 09:30 in America/New_York is
13:30 UTC in summer and 14:30 UTC in winter, and the days of a daylight-saving change last 23
or 25 hours.

- **Half-open hours.** An instant `t` is inside a session when `open <= t < close`: a decision
  taken at 16:00 on a 09:30-16:00 session is outside, one at 09:30 inside.
- **Sessions crossing midnight** (`open: "18:00", close: "06:00"`) belong to the day they open,
  as futures sessions do: `days: [sun, mon, tue, wed, thu]` is Sunday 18:00 to Monday 06:00,
  ..., Thursday 18:00 to Friday 06:00. Their trading day (`day_of`) runs from one open to the
  next, so a session is never cut in two by the day's counters.
- **Trading days** (`day_of`): days since 1970-01-01 of the local date a moment belongs to (the
  session's date for one crossing midnight). Without a session the runner cuts days in UTC with
  `ts_ms // 86_400_000`: the same count, so a saved day number means the same thing in both.
- **Wall-clock times that do not exist or occur twice.** A time the clocks skip (02:30 on the
  spring-forward day in New York) is read with the offset before the change (so 03:30 EDT); one
  they pass twice (01:30 on the fall-back day) is its first occurrence (PEP 495's `fold=0`).

Per-candle questions (`window`, `day_of`) answer from the session or day computed last while the
time stays inside it, so a replay converts times with zoneinfo about twice per session day. The
days are cut by `market.trading_days.TradingDays` (`trading_days`), which the bot's other
day-counting features (`vwap:day`) take from the session too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from market.trading_days import TradingDays, utc_ms

__all__ = ["DAY_NAMES", "MINUTES_PER_DAY", "TradingSession"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")      # date.weekday() order
MINUTES_PER_DAY = 1440


class TradingSession:
    """A session's hours and days; see the module docstring.

    `open_minute` and `close_minute` are minutes after local midnight (`close_minute` 1440 is the
    midnight ending the day); they must differ. `days` are weekday numbers (0 is Monday), the
    days a session opens on. `flatten_at_close` is read by the runner (`runner.bot.session_flow`).

    >>> s = TradingSession("America/New_York", 9 * 60 + 30, 16 * 60, range(5))
    >>> s.is_open(1_773_149_400_000)      # 2026-03-10 13:30 UTC: 09:30 EDT on a Tuesday
    True
    """

    __slots__ = ("zone", "open_minute", "close_minute", "days", "flatten_at_close", "crosses_midnight",
                 "trading_days", "day_of", "_window_cache")

    def __init__(self, time_zone: str | ZoneInfo, open_minute: int, close_minute: int, days: Iterable[int],
                 *, flatten_at_close: bool = False) -> None:
        if not 0 <= open_minute < MINUTES_PER_DAY or not 0 < close_minute <= MINUTES_PER_DAY:
            raise ValueError(f"open {open_minute} must be in 0..1439 and close {close_minute} in 1..1440 minutes")
        if open_minute == close_minute % MINUTES_PER_DAY and close_minute != MINUTES_PER_DAY:
            raise ValueError("open and close must differ")
        self.zone = time_zone if isinstance(time_zone, ZoneInfo) else ZoneInfo(time_zone)
        self.open_minute = open_minute
        self.close_minute = close_minute
        self.days = frozenset(days)
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"days must be weekday numbers 0 (Monday) to 6, at least one; got {sorted(self.days)}")
        self.flatten_at_close = flatten_at_close
        self.crosses_midnight = close_minute < open_minute
        # Where a trading day starts: local midnight, or the open of a session crossing midnight.
        self.trading_days = TradingDays(self.zone, open_minute if self.crosses_midnight else 0)
        self.day_of = self.trading_days.day_of
        """The trading day of a time in UTC ms: days since 1970-01-01 of its local date (of the
        session's open for a session crossing midnight). Every instant has one, in a session or
        not. The days' own method, bound here: the risk rules call it per candle."""
        self._window_cache = (0, 0, 0)       # (valid_from_ms, open_ms, close_ms): the last session found

    # -- sessions ----------------------------------------------------------------------------

    def window(self, ts_ms: int) -> tuple[int, int]:
        """(open_ms, close_ms) of the session in progress at `ts_ms`, or else of the next one."""
        valid_from, open_ms, close_ms = self._window_cache
        if valid_from <= ts_ms < close_ms:
            return open_ms, close_ms
        open_ms, close_ms = self._find_window(ts_ms)
        # The same answer holds for every later moment up to that close: the sessions before it
        # had closed by `ts_ms` already.
        self._window_cache = (ts_ms, open_ms, close_ms)
        return open_ms, close_ms

    def is_open(self, ts_ms: int) -> bool:
        """Whether `ts_ms` is inside a session."""
        open_ms, close_ms = self.window(ts_ms)
        return open_ms <= ts_ms < close_ms

    def _find_window(self, ts_ms: int) -> tuple[int, int]:
        # The session opening the day before may still be in progress (it crosses midnight, or a
        # DST change moved it); a week on, every day of the week has been tried.
        first = self.local(ts_ms).date() - timedelta(days=1)
        for offset in range(9):
            day = first + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            open_ms = self._utc_ms(day, self.open_minute)
            close_ms = self._utc_ms(day + timedelta(days=1) if self.crosses_midnight else day, self.close_minute)
            if close_ms > ts_ms and close_ms > open_ms:
                return open_ms, close_ms
        raise AssertionError("a session opens on some day of every week")   # days is never empty

    # -- conversions -------------------------------------------------------------------------

    def local(self, ts_ms: int) -> datetime:
        """`ts_ms` (UTC milliseconds) as an aware datetime in the session's zone."""
        return datetime.fromtimestamp(ts_ms / 1000, tz=self.zone)

    def _utc_ms(self, day: date, minute: int) -> int:
        return utc_ms(self.zone, day, minute)

    def describe(self) -> str:
        """`09:30-16:00 America/New_York mon,tue,wed,thu,fri`, for messages and the journal."""
        names = [DAY_NAMES[d] for d in sorted(self.days)]
        return f"{_hhmm(self.open_minute)}-{_hhmm(self.close_minute)} {self.zone.key} {','.join(names)}"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
