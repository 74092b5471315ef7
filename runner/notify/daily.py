"""`DailySummary`: once a day, at `daily_at` UTC, a summary of every bot.

The time is read from an injected clock, so a test moves it across the boundary instead of
waiting a day. The loop wakes at the due time or every `poll_secs`, whichever comes first:
a wall clock set forward (NTP after a suspend) is noticed within `poll_secs`, and a clock
that jumps several days sends one summary, not one per day missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from market.clock import Clock
from runner.control.status import BotStatus
from runner.notify.events import DayFigures, Notice, daily_summary

__all__ = ["DailySummary", "next_due_ms"]

DAY_MS = 86_400_000


def next_due_ms(now_ms: int, at_minutes: int) -> int:
    """The first time strictly after `now_ms` that is `at_minutes` past a UTC midnight."""
    due = now_ms - now_ms % DAY_MS + at_minutes * 60_000
    return due if due > now_ms else due + DAY_MS


class DailySummary:
    """Offers a `daily_summary` notice of `statuses()` at `at_minutes` past each UTC midnight."""

    def __init__(self, statuses: Callable[[], list[BotStatus]], offer: Callable[[Notice], object], *,
                 at_minutes: int, clock: Clock, host: str, poll_secs: float = 30.0) -> None:
        self._statuses = statuses
        self._offer = offer
        self._at_minutes = at_minutes
        self._clock = clock
        self._host = host
        self._poll_secs = poll_secs
        self._previous: dict[str, DayFigures] = {}     # each bot at the last summary: the day's change

    async def run(self) -> None:
        due = next_due_ms(self._clock.now_ms(), self._at_minutes)
        while True:
            now = self._clock.now_ms()
            if now >= due:
                self.send(due)
                due = next_due_ms(now, self._at_minutes)
            await asyncio.sleep(min(self._poll_secs, (due - now) / 1000))

    def send(self, until_ms: int) -> None:
        """Offer the summary up to `until_ms` now."""
        statuses = self._statuses()
        self._offer(daily_summary(self._host, until_ms, statuses, self._previous))
        self._previous = {s.id: DayFigures(s.equity, s.trades) for s in statuses}
