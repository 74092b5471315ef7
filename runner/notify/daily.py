"""`DailySummary`: once a day, at `daily_at` in `daily_time_zone` (UTC by default), a summary of every bot.

The day is cut by `market.trading_days.TradingDays`, the day-cutter of the bots' sessions: in a
zone with daylight saving the summary stays at its wall-clock time, 23 or 25 hours after the
last one across a change (18:00 in New York is 22:00 UTC in summer, 23:00 in winter).

The time is read from an injected clock, so a test moves it across the boundary instead of
waiting a day. The loop wakes at the due time or every `poll_secs`, whichever comes first:
a wall clock set forward (NTP after a suspend) is noticed within `poll_secs`, and a clock
that jumps several days sends one summary, not one per day missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from market.clock import Clock
from market.models import iso_utc
from market.trading_days import TradingDays
from runner.control.status import BotStatus
from runner.notify.events import DayFigures, Notice, daily_summary

__all__ = ["DailySummary", "next_due_ms"]


def next_due_ms(now_ms: int, days: TradingDays) -> int:
    """The first time strictly after `now_ms` at which a day of `days` starts (the summary's
    time: `TradingDays(zone, daily_at_minutes)`)."""
    return days.bounds(now_ms)[1]


class DailySummary:
    """Offers a `daily_summary` notice of `statuses()` at `at_minutes` past each midnight of
    `time_zone` (an IANA name)."""

    def __init__(self, statuses: Callable[[], list[BotStatus]], offer: Callable[[Notice], object], *,
                 at_minutes: int, clock: Clock, host: str, poll_secs: float = 30.0,
                 time_zone: str = "UTC") -> None:
        self._statuses = statuses
        self._offer = offer
        self._days = TradingDays(time_zone, at_minutes)
        self._clock = clock
        self._host = host
        self._poll_secs = poll_secs
        self._previous: dict[str, DayFigures] = {}     # each bot at the last summary: the day's change

    async def run(self) -> None:
        due = next_due_ms(self._clock.now_ms(), self._days)
        while True:
            now = self._clock.now_ms()
            if now >= due:
                self.send(due)
                due = next_due_ms(now, self._days)
            await asyncio.sleep(min(self._poll_secs, (due - now) / 1000))

    def send(self, until_ms: int) -> None:
        """Offer the summary up to `until_ms` now."""
        statuses = self._statuses()
        self._offer(daily_summary(self._host, self._when(until_ms), statuses, self._previous))
        self._previous = {s.id: DayFigures(s.equity, s.trades) for s in statuses}

    def _when(self, ts_ms: int) -> str:
        zone = self._days.zone
        if zone.key == "UTC":
            return iso_utc(ts_ms)
        return f"{datetime.fromtimestamp(ts_ms / 1000, tz=zone):%Y-%m-%d %H:%M} {zone.key}"
