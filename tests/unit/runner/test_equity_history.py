"""A bot's equity curve for the dashboard: bounded, evenly thinned, drawdowns never lost."""

from __future__ import annotations

import pytest

from runner.control.equity_history import EquityHistory


def test_drawdown_is_measured_from_the_running_peak():
    history = EquityHistory(capacity=100)
    for ts_ms, equity in enumerate([100.0, 110.0, 99.0, 121.0]):
        history.record(ts_ms, equity)

    series = history.series()

    assert series["equity"] == [100.0, 110.0, 99.0, 121.0]
    assert series["drawdown"] == pytest.approx([0.0, 0.0, 99 / 110 - 1, 0.0])


def test_a_sample_not_later_than_the_last_adds_nothing():
    history = EquityHistory(capacity=100)
    history.record(5, 100.0)
    history.record(5, 90.0)          # the fill and its candle: one point
    history.record(3, 80.0)          # a restarted bot re-running old candles

    assert history.series() == {"ts_ms": [5], "equity": [100.0], "drawdown": [0.0]}


def test_it_never_holds_more_than_its_capacity_and_still_spans_all_of_history():
    history = EquityHistory(capacity=64)
    for ts_ms in range(10_000):
        history.record(ts_ms, 1000.0 + ts_ms)

    series = history.series()

    assert len(series["ts_ms"]) < 64
    assert series["ts_ms"][0] < 300 and series["ts_ms"][-1] > 9_700
    gaps = {b - a for a, b in zip(series["ts_ms"], series["ts_ms"][1:])}
    assert len(gaps) == 1                                   # evenly spaced


def test_a_dip_between_kept_points_still_shows_as_drawdown():
    history = EquityHistory(capacity=8)
    for ts_ms in range(1_000):
        history.record(ts_ms, 50.0 if ts_ms == 501 else 100.0)   # one bad sample, halfway

    assert min(history.series()["drawdown"]) == pytest.approx(-0.5)
    assert min(history.series(max_points=2)["drawdown"]) == pytest.approx(-0.5)


def test_series_thins_to_at_most_max_points_and_keeps_the_latest():
    history = EquityHistory(capacity=1000)
    for ts_ms in range(100):
        history.record(ts_ms, float(ts_ms))

    thinned = history.series(max_points=7)

    assert len(thinned["ts_ms"]) <= 7 and thinned["ts_ms"][-1] == 99 and thinned["equity"][-1] == 99.0


def test_a_tiny_capacity_is_refused():
    with pytest.raises(ValueError, match="at least 4"):
        EquityHistory(capacity=2)
