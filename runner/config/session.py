"""A bot's trading session: the hours it may enter in, in a market's time zone.

```yaml
session:
  time_zone: America/New_York       # an IANA name; required
  open: "09:30"                     # local wall-clock time, in quotes; default "00:00"
  close: "16:00"                    # "24:00" is the midnight ending the day (the default)
  days: [mon, tue, wed, thu, fri]   # the days a session opens on; default every day
  flatten_at_close: true            # exit before the close, no entry after that (default false)
```

No `session`: around the clock, days cut at UTC midnight. A session whose close comes before
its open (`open: "18:00", close: "06:00"`) crosses midnight and belongs to the day it opens
(see `market.session`). Times must be quoted: YAML reads an unquoted `16:00` as the number 960.

Time zones come from the system's database (`/usr/share/zoneinfo`, Debian's `tzdata`) or from
the `tzdata` PyPI package (`pip install -e ".[sessions]"`) where the system has none.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, model_validator

from market.limits import Flag
from market.session import DAY_NAMES, MINUTES_PER_DAY, TradingSession
from market.strict import StrictModel

__all__ = ["SessionConfig", "TimeZoneName", "session_fits_timeframe"]

_CLOCK_TIME = re.compile(r"^(\d\d):(\d\d)$")


def _number_hint(value: int) -> str:
    """What time a number may have meant: `1700` is 17:00 without its colon. (An unquoted `16:00`
    is text to the config loader, not YAML 1.1's base-60 960.) Said only where it fits a time of day."""
    if 0 <= value // 100 <= 24 and value % 100 < 60:
        return f' (for {value // 100:02d}:{value % 100:02d} write "{value // 100:02d}:{value % 100:02d}")'
    return ""


def _clock_time(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        hint = _number_hint(value) if isinstance(value, int) and not isinstance(value, bool) else ""
        raise ValueError(f'must be a time "HH:MM" in quotes, e.g. "09:30"{hint}; got {value!r}')
    match = _CLOCK_TIME.match(value)
    if match is None or int(match[1]) > 24 or int(match[2]) > 59 or (int(match[1]) == 24 and match[2] != "00"):
        raise ValueError(f'must be a time "HH:MM" from "00:00" to "24:00", e.g. "09:30"; got {value!r}')
    return value


def _zone_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be an IANA time zone name such as America/New_York or UTC; got {value!r}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        known = zoneinfo.available_timezones()
        if not known:
            raise ValueError(f"cannot look up {value!r}: this system has no time zone database; install it "
                             "(apt-get install tzdata, or pip install -e \".[sessions]\" for the tzdata package)") from None
        close = difflib.get_close_matches(value, sorted(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; e.g. America/New_York, Europe/London, UTC"
        raise ValueError(f"unknown time zone {value!r}{hint}") from None
    return value


def _day_names(value: Any) -> Any:
    if isinstance(value, list):
        unknown = [day for day in value if day not in DAY_NAMES]
        if unknown:
            raise ValueError(f"unknown day name(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(DAY_NAMES)}")
        if not value:
            raise ValueError(f"list at least one day of {', '.join(DAY_NAMES)} (or leave days out for every day)")
        if len(set(value)) < len(value):
            raise ValueError(f"a day is listed twice: {value}")
    return value


ClockTime = Annotated[str, BeforeValidator(_clock_time)]
TimeZoneName = Annotated[str, BeforeValidator(_zone_name)]
"""An IANA time zone name zoneinfo can load; the message names close matches (for any config field)."""


class SessionConfig(StrictModel):
    time_zone: TimeZoneName
    open: ClockTime = "00:00"
    close: ClockTime = "24:00"
    days: Annotated[list[str], BeforeValidator(_day_names)] = list(DAY_NAMES)
    """The days a session opens on (a session crossing midnight closes on the next)."""
    flatten_at_close: Flag = False
    """Close the position so that the exit fills before the close; no entry from then until the next open."""

    @model_validator(mode="after")
    def _open_differs_from_close(self) -> Self:
        if self.open == "24:00":
            raise ValueError('open "24:00" is the end of a day; a session opening at midnight opens at "00:00"')
        if self.open_minute == self.close_minute % MINUTES_PER_DAY and self.close != "24:00":
            raise ValueError(f"open and close are both {self.open}: a session needs hours "
                             "(remove session to trade around the clock)")
        return self

    @property
    def open_minute(self) -> int:
        return _minutes(self.open)

    @property
    def close_minute(self) -> int:
        return _minutes(self.close)

    @property
    def length_minutes(self) -> int:
        """The session's wall-clock length (a DST change may add or take an hour on the day)."""
        return (self.close_minute - self.open_minute) % MINUTES_PER_DAY or MINUTES_PER_DAY

    def session(self) -> TradingSession:
        return TradingSession(self.time_zone, self.open_minute, self.close_minute,
                              (DAY_NAMES.index(day) for day in self.days), flatten_at_close=self.flatten_at_close)


def session_fits_timeframe(session: SessionConfig, bar_ms: int) -> str | None:
    """Why a bot of `bar_ms` candles could not trade in `session`, or None. A session shorter
    than a candle may hold no candle close at all; with `flatten_at_close` the exit is decided a
    candle before the close, so the session must be longer than one candle."""
    length_ms = session.length_minutes * 60_000
    if session.flatten_at_close and length_ms <= bar_ms:
        return (f"session {session.open}-{session.close} is not longer than one candle: with flatten_at_close "
                "the exit is decided a candle before the close, so no entry could be made")
    if length_ms < bar_ms:
        return f"session {session.open}-{session.close} is shorter than one candle"
    return None


def _minutes(clock_time: str) -> int:
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)
