"""Candle prices must lie within [MIN_PRICE, MAX_PRICE]: a positive 1e-318 sizes an infinite order."""

from __future__ import annotations

import pytest

from market.limits import MAX_PRICE, MIN_PRICE
from market.validation import clean_candles

T0 = 1_640_995_200_000
MINUTE = 60_000


def rows(low: float, high: float) -> list[tuple]:
    good = [(i + 2, T0 + i * MINUTE, 100.0, 101.0, 99.0, 100.5, 1.0) for i in range(4)]
    bad = (6, T0 + 4 * MINUTE, low, high, low, low, 1.0)
    return [*good, bad]


@pytest.mark.parametrize(("low", "high", "says"), [
    (1e-318, 1e-318, "open is 1e-318; prices must be within [1e-12, 1e+12]"),
    (100.0, 1e300, "high is 1e+300; prices must be within [1e-12, 1e+12]"),
])
def test_prices_outside_the_bounds_are_dropped_with_a_warning(low, high, says, log_records):
    result = clean_candles(rows(low, high), source="x.csv", timeframe_ms=MINUTE)
    assert len(result.candles) == 4 and result.rejected == {"price_out_of_range": 1}
    assert any(says in r["message"] and "line 6" in r["message"] for r in log_records)


def test_the_bounds_themselves_are_accepted():
    result = clean_candles(rows(MIN_PRICE, MAX_PRICE), source="x.csv", timeframe_ms=MINUTE)
    assert len(result.candles) == 5
