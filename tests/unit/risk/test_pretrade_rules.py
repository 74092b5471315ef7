"""Pre- and post-trade checks alone: max order notional, the price collar, the daily target, the
fill-price deviation; each at its edge."""

import pytest

from market.models import Candle
from market.view import MarketView
from risk.decision import Verdict
from risk.rules import DailyTarget, MaxOrderNotional, PriceCollar, fill_deviation

DAY_MS = 86_400_000


def candle(ts_ms=0, close=100.0):
    return Candle(ts_ms, close, close, close, close, 1.0)


def view_of(closes):
    view = MarketView("BTC/USD", "1m")
    for i, close in enumerate(closes):
        view.push(candle(i * 60_000, close))
    return view


def test_max_order_notional_caps_only_a_larger_entry():
    rule = MaxOrderNotional(500.0)
    assert rule.cap(900.0) == 500.0
    assert rule.cap(500.0) == 500.0
    assert rule.cap(499.0) == 499.0


def test_price_collar_refuses_a_close_further_than_the_limit_from_the_mean_before_it():
    collar = PriceCollar(0.25, 4)                     # 0.25 * 100 is exactly 25
    assert collar.refusal(view_of([90, 110, 100, 100, 125.0])) is None       # exactly 25% away
    assert collar.refusal(view_of([90, 110, 100, 100, 75.0])) is None
    refusal = collar.refusal(view_of([90, 110, 100, 100, 125.01]))
    assert refusal.verdict is Verdict.REJECT and refusal.rule == "price_collar"
    assert refusal.inputs == {"close": 125.01, "mean": 100.0, "pct": 0.25, "window": 4.0}
    assert "25.01% from the mean 100" in refusal.reason
    assert collar.refusal(view_of([90, 110, 100, 100, 74.99])).rule == "price_collar"


def test_price_collar_reads_only_the_last_window_and_passes_while_warming_up():
    collar = PriceCollar(0.1, 3)
    assert collar.refusal(view_of([])) is None
    assert collar.refusal(view_of([100.0, 100.0, 500.0])) is None            # 3 closes: no reference yet
    assert collar.refusal(view_of([1.0, 100.0, 100.0, 100.0, 105.0])) is None  # the 1.0 is out of the window


def test_daily_target_holds_from_reaching_it_until_the_next_utc_day():
    rule = DailyTarget(0.25)
    rule.on_candle(candle(0), 1_000.0)                         # the day's start
    rule.on_candle(candle(60_000), 1_249.99)
    assert rule.refusal() is None
    rule.on_candle(candle(120_000), 1_250.0)                  # exactly 25% above
    refusal = rule.refusal()
    assert (refusal.verdict, refusal.rule) == (Verdict.REJECT, "daily_target")
    assert refusal.inputs == {"day_start_equity": 1_000.0, "reached_equity": 1_250.0, "target_pct": 0.25}
    rule.on_candle(candle(180_000), 1_100.0)                  # falling back does not lift it
    assert rule.refusal() is not None
    rule.on_candle(candle(DAY_MS), 1_100.0)                   # a new day, from 1,100
    assert rule.refusal() is None
    assert rule.figures() == {"daily_target_reached": 0.0}


def test_daily_target_snapshot_round_trip():
    rule = DailyTarget(0.1)
    rule.on_candle(candle(0), 1_000.0)
    rule.on_candle(candle(60_000), 1_100.0)
    restored = DailyTarget(0.1)
    restored.restore(rule.snapshot())
    assert restored.snapshot() == rule.snapshot() and restored.refusal() is not None
    restored.on_candle(candle(DAY_MS - 60_000), 900.0)          # same day: still held
    assert restored.refusal() is not None


@pytest.mark.parametrize("fill_price, alert", [
    (100.0, False), (102.0, False), (98.0, False),             # exactly 2% away passes
    (102.01, True), (97.99, True),
])
def test_fill_deviation_alerts_only_beyond_the_limit(fill_price, alert):
    message = fill_deviation(fill_price, 100.0, 0.02)
    assert (message is not None) is alert
    if alert:
        assert "from the reference 100 (at most 2.00%)" in message
