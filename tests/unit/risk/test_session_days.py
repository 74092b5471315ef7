"""The daily risk rules count a session's days in its time zone: they roll over at New York's
midnight, also on 2026-03-08 (a day of 23 hours) and 2026-11-01 (25 hours); without a session,
UTC days exactly as before. A snapshot's day means the same thing after a restart."""

from datetime import date, datetime, timezone

import pytest

from market.models import Candle
from market.session import TradingSession
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from risk.rules import DailyMaxLoss, DailyTarget

MIN, HOUR = 60_000, 3_600_000


def utc(*parts) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000)


def new_york() -> TradingSession:
    return TradingSession("America/New_York", 9 * 60 + 30, 16 * 60, range(5))


def candle(ts_ms: int) -> Candle:
    return Candle(ts_ms, 100.0, 100.0, 100.0, 100.0, 1.0)


@pytest.mark.parametrize("last_of_day, first_of_next", [
    (utc(2026, 3, 9, 3, 59), utc(2026, 3, 9, 4)),      # Sunday 2026-03-08 (23 h) ends at 04:00 UTC
    (utc(2026, 3, 8, 4, 59), utc(2026, 3, 8, 5)),      # Saturday ends at 05:00 UTC (still EST)
    (utc(2026, 11, 2, 4, 59), utc(2026, 11, 2, 5)),    # Sunday 2026-11-01 (25 h) ends at 05:00 UTC
    (utc(2026, 11, 1, 3, 59), utc(2026, 11, 1, 4)),    # Saturday ends at 04:00 UTC (still EDT)
])
def test_daily_max_loss_starts_a_new_day_at_new_york_midnight(last_of_day, first_of_next):
    rule = DailyMaxLoss(0.1, new_york().day_of)
    assert rule.check(last_of_day - 20 * HOUR, 1_000.0) is None         # the day's first candle
    assert rule.check(last_of_day, 950.0) is None
    assert "daily loss 11.00%" in rule.check(last_of_day, 890.0)         # the same day, 20 hours on
    assert rule.check(first_of_next, 890.0) is None                      # a new day: a new start
    assert rule.day_start_equity == 890.0
    assert rule.day == datetime.fromtimestamp(first_of_next / 1000, new_york().zone).date().toordinal() \
        - date(1970, 1, 1).toordinal()
    assert "daily loss" in rule.check(first_of_next + HOUR, 800.0)


def test_the_short_and_the_long_day_each_count_once():
    """A candle every minute from Saturday to Tuesday around each change: the day starts seen by
    the rule are the New York midnights, 23 and 25 hours apart on the change days."""
    for first, hours in ((utc(2026, 3, 7, 12), [23, 24]), (utc(2026, 10, 31, 12), [25, 24])):
        rule, starts = DailyTarget(0.5, new_york().day_of), []
        for ts in range(first, first + 3 * 24 * HOUR, MIN):
            day = rule.day
            rule.on_candle(candle(ts), 1_000.0)
            if rule.day != day:
                starts.append(ts)
        assert [(b - a) // HOUR for a, b in zip(starts[1:], starts[2:])] == hours


def test_daily_target_holds_until_new_york_midnight_not_utc_midnight():
    rule = DailyTarget(0.03, new_york().day_of)
    rule.on_candle(candle(utc(2026, 3, 9, 14)), 1_000.0)      # Monday 10:00 EDT
    rule.on_candle(candle(utc(2026, 3, 9, 18)), 1_031.0)      # reached
    assert "until the next trading day" in rule.refusal().reason
    rule.on_candle(candle(utc(2026, 3, 10, 0)), 1_031.0)      # UTC midnight: still Monday in New York
    assert rule.refusal() is not None
    rule.on_candle(candle(utc(2026, 3, 10, 4)), 1_031.0)      # New York midnight
    assert rule.refusal() is None and rule.day_start_equity == 1_031.0


def test_without_a_session_days_are_utc_days_as_before():
    rule, target = DailyMaxLoss(0.1), DailyTarget(0.03)
    ts = utc(2026, 3, 9, 23, 59)
    rule.check(ts, 1_000.0)
    target.on_candle(candle(ts), 1_000.0)
    assert rule.day == target.day == ts // 86_400_000
    assert "daily loss" in rule.check(utc(2026, 3, 9, 23, 59, 30), 880.0)
    assert rule.check(utc(2026, 3, 10), 880.0) is None        # UTC midnight
    target.on_candle(candle(utc(2026, 3, 9, 23, 59, 30)), 1_031.0)
    assert "until the next UTC day" in target.refusal().reason


def test_a_restored_engine_goes_on_with_the_same_new_york_day():
    config = RiskConfig(daily_max_loss_pct=0.1, daily_target_pct=0.05)
    engine = RuleRiskEngine.from_config(config, day_of=new_york().day_of)
    engine.on_candle(candle(utc(2026, 11, 1, 14)), 1_000.0, 1_000.0)     # Sunday 2026-11-01, 09:00 EST
    saved = engine.snapshot()
    assert saved["day"] == date(2026, 11, 1).toordinal() - date(1970, 1, 1).toordinal()
    restored = RuleRiskEngine.from_config(config, day_of=new_york().day_of)
    restored.restore(saved)
    # 04:30 UTC on the 2nd is 23:30 EST on the 1st: the same day, so the loss counts from 1,000.
    assert "daily loss" in restored.on_candle(candle(utc(2026, 11, 2, 4, 30)), 890.0, 1_000.0)
    again = RuleRiskEngine.from_config(config, day_of=new_york().day_of)
    again.restore(saved)
    assert again.on_candle(candle(utc(2026, 11, 2, 5)), 890.0, 1_000.0) is None   # New York's next day
