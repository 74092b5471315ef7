"""`TradingSession`: hours and trading days in a time zone, across New York's 2026 DST changes
(2026-03-08: a day of 23 hours; 2026-11-01: one of 25), and sessions crossing midnight."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from market.session import TradingSession

NY = ZoneInfo("America/New_York")
MIN, HOUR = 60_000, 3_600_000
WEEKDAYS = range(5)


def utc(*parts) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000)


def days_since_epoch(day: date) -> int:
    return day.toordinal() - date(1970, 1, 1).toordinal()


def equities() -> TradingSession:
    return TradingSession("America/New_York", 9 * 60 + 30, 16 * 60, WEEKDAYS, flatten_at_close=True)


def test_the_open_is_at_the_local_time_in_winter_and_in_summer():
    session = equities()
    assert session.window(utc(2026, 3, 6, 12)) == (utc(2026, 3, 6, 14, 30), utc(2026, 3, 6, 21))   # Fri, EST
    assert session.window(utc(2026, 3, 9, 12)) == (utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 20))   # Mon, EDT
    assert session.window(utc(2026, 11, 2, 12)) == (utc(2026, 11, 2, 14, 30), utc(2026, 11, 2, 21))  # Mon, EST


def test_hours_are_half_open_and_the_weekend_has_no_session():
    session = equities()
    assert not session.is_open(utc(2026, 3, 9, 13, 29))
    assert session.is_open(utc(2026, 3, 9, 13, 30))         # 09:30 EDT: the open is inside
    assert session.is_open(utc(2026, 3, 9, 19, 59))
    assert not session.is_open(utc(2026, 3, 9, 20))         # 16:00 EDT: the close is outside
    saturday = utc(2026, 3, 7, 15)
    assert not session.is_open(saturday)
    assert session.window(saturday) == (utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 20))   # the next: Monday's


@pytest.mark.parametrize("first, last, boundaries, hours", [
    # New York midnights in UTC around each change: the short day and the long one.
    (utc(2026, 3, 7, 0), utc(2026, 3, 10, 12), [utc(2026, 3, 7, 5), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4),
                                                utc(2026, 3, 10, 4)], [24, 23, 24]),
    (utc(2026, 10, 31, 0), utc(2026, 11, 3, 12), [utc(2026, 10, 31, 4), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5),
                                                  utc(2026, 11, 3, 5)], [24, 25, 24]),
])
def test_trading_days_roll_at_new_york_midnight_across_a_dst_change(first, last, boundaries, hours):
    session = equities()
    rolls, previous = [], session.day_of(first)
    for ts in range(first + MIN, last, MIN):
        day = session.day_of(ts)
        if day != previous:
            assert day == previous + 1
            rolls.append(ts)
            previous = day
    assert rolls == boundaries
    assert [(b - a) // HOUR for a, b in zip(rolls, rolls[1:])] == hours
    local_dates = [datetime.fromtimestamp(ts / 1000, NY).date() for ts in rolls]
    assert [session.day_of(ts) for ts in rolls] == [days_since_epoch(d) for d in local_dates]


def test_without_a_zone_offset_the_day_number_is_the_utc_day_count():
    session = TradingSession("UTC", 0, 1440, range(7))
    for ts in (0, utc(2026, 3, 8, 23, 59), utc(2026, 3, 9), utc(2026, 11, 1, 12)):
        assert session.day_of(ts) == ts // 86_400_000


def test_a_session_crossing_midnight_belongs_to_the_day_it_opens():
    # Sunday to Thursday evenings, 18:00 to 06:00 the next morning, in New York.
    session = TradingSession("America/New_York", 18 * 60, 6 * 60, [6, 0, 1, 2, 3])
    assert session.crosses_midnight
    sunday_open, monday_close = utc(2026, 3, 1, 23), utc(2026, 3, 2, 11)          # EST
    assert session.window(utc(2026, 3, 2, 3)) == (sunday_open, monday_close)
    assert session.is_open(utc(2026, 3, 2, 10, 59)) and not session.is_open(monday_close)
    # Its trading day runs open to open: Sunday's session, from its open to Monday's, is Sunday.
    sunday = days_since_epoch(date(2026, 3, 1))
    assert session.day_of(sunday_open) == session.day_of(monday_close) == session.day_of(utc(2026, 3, 2, 22, 59)) \
        == sunday
    assert session.day_of(utc(2026, 3, 2, 23)) == sunday + 1
    # Thursday's session ends Friday 06:00; nothing opens Friday or Saturday evening.
    friday_close = utc(2026, 3, 6, 11)
    assert session.is_open(friday_close - MIN) and not session.is_open(utc(2026, 3, 6, 23, 30))
    assert session.window(friday_close) == (utc(2026, 3, 8, 22), utc(2026, 3, 9, 10))   # Sunday's, now EDT


def test_a_session_spanning_the_spring_forward_night_is_an_hour_shorter():
    session = TradingSession("America/New_York", 18 * 60, 6 * 60, range(7))
    open_ms, close_ms = session.window(utc(2026, 3, 8, 8))      # Saturday 18:00 EST to Sunday 06:00 EDT
    assert (open_ms, close_ms) == (utc(2026, 3, 7, 23), utc(2026, 3, 8, 10))
    assert close_ms - open_ms == 11 * HOUR
    open_ms, close_ms = session.window(utc(2026, 11, 1, 8))     # Saturday 18:00 EDT to Sunday 06:00 EST
    assert close_ms - open_ms == 13 * HOUR


def test_cached_answers_equal_fresh_ones_forwards_and_backwards():
    cached = TradingSession("America/New_York", 18 * 60, 6 * 60, [6, 0, 1, 2, 3])
    times = list(range(utc(2026, 2, 20), utc(2026, 3, 20), 13 * MIN)) + \
        list(range(utc(2026, 10, 20), utc(2026, 11, 12), 13 * MIN))
    for ts in times + times[::-7]:
        fresh = TradingSession("America/New_York", 18 * 60, 6 * 60, [6, 0, 1, 2, 3])
        assert cached.window(ts) == fresh.window(ts)
        assert cached.day_of(ts) == fresh.day_of(ts)
        assert cached.is_open(ts) == fresh.is_open(ts)


def test_open_and_close_must_differ_and_days_be_weekdays():
    with pytest.raises(ValueError, match="differ"):
        TradingSession("UTC", 600, 600, WEEKDAYS)
    with pytest.raises(ValueError, match="weekday"):
        TradingSession("UTC", 600, 700, [])
