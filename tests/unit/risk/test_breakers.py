"""Circuit breakers alone: volatility (realized and ATR) against numpy, the cool-down, the kill
action, the spread breaker fed by hand, and snapshots that continue bit for bit."""

import math

import numpy as np
import pytest

from market.models import Candle
from risk.breakers import BreakerLatch, SpreadBreaker, VolatilityBreaker


def candles_from(closes, spread=0.0):
    return [Candle(i * 60_000, c, c + spread, c - spread, c, 1.0) for i, c in enumerate(closes)]


def test_latch_holds_for_the_cooldown_after_clearing():
    latch = BreakerLatch(2)
    assert latch.step(True) is True                 # trips
    assert latch.step(True) is False and latch.tripped   # already tripped
    assert [latch.step(False) or latch.tripped for _ in range(3)] == [True, True, False]


def test_latch_without_cooldown_clears_on_the_first_candle_within():
    latch = BreakerLatch(0)
    latch.step(True)
    latch.step(False)
    assert not latch.tripped


def test_realized_volatility_is_the_sample_std_of_log_returns():
    closes = [100.0, 101.0, 99.5, 102.0, 100.2, 100.9, 98.7]
    breaker = VolatilityBreaker(4, threshold=1.0)
    for c in candles_from(closes):
        breaker.on_candle(c, 0.0)
    expected = np.std(np.diff(np.log(closes))[-4:], ddof=1)
    assert breaker.value == pytest.approx(expected, rel=1e-12)


def test_atr_volatility_is_the_mean_true_range_over_the_close():
    candles = [Candle(0, 100, 102, 99, 101, 1), Candle(1, 101, 101.5, 97, 98, 1),
               Candle(2, 98, 104, 98, 103, 1), Candle(3, 103, 103.5, 102, 103, 1)]
    breaker = VolatilityBreaker(3, threshold=1.0, atr=True)
    for c in candles:
        breaker.on_candle(c, 0.0)
    true_ranges = [4.5, 6.0, 1.5]                      # max(h-l, |h-prev|, |l-prev|) of the last 3
    assert breaker.value == pytest.approx(sum(true_ranges) / 3 / 103.0, rel=1e-12)


def test_volatility_breaker_trips_beyond_the_threshold_not_at_it():
    # Alternating returns of +-r: the sample std over an even window is r * sqrt(n / (n - 1)).
    up, down = 1.01, 1 / 1.01
    closes = [100.0]
    for i in range(6):
        closes.append(closes[-1] * (up if i % 2 == 0 else down))
    breaker = VolatilityBreaker(4, threshold=0.5)
    for c in candles_from(closes):
        breaker.on_candle(c, 0.0)
    at_limit = breaker.value
    exact = VolatilityBreaker(4, threshold=at_limit, cooldown_candles=1)
    beyond = VolatilityBreaker(4, threshold=math.nextafter(at_limit, 0.0), cooldown_candles=1)
    for c in candles_from(closes):
        exact.on_candle(c, 0.0)
        beyond.on_candle(c, 0.0)
    assert exact.refusal() is None
    refusal = beyond.refusal()
    assert refusal.rule == "volatility_breaker" and refusal.inputs["value"] == at_limit


def test_volatility_breaker_pauses_then_clears_after_the_cooldown():
    breaker = VolatilityBreaker(2, threshold=0.02, cooldown_candles=2)
    calm, wild = [100.0, 100.1, 100.0], [110.0, 100.0]
    blocked = []
    for c in candles_from(calm + wild + [100.0] * 6):
        assert breaker.on_candle(c, 0.0) is None           # action pause: never a kill
        blocked.append(breaker.refusal() is not None)
    # The jump to 110 trips it (index 3); the std of two returns is back within once both are
    # flat (index 6); that candle and the next are the cool-down of 2; index 8 passes.
    assert blocked == [False, False, False, True, True, True, True, True, False, False, False]
    assert breaker.figures()["volatility_breaker"] == 0.0


def test_volatility_breaker_with_kill_names_a_reason_once_when_it_trips():
    breaker = VolatilityBreaker(2, threshold=0.02, kill=True)
    reasons = [breaker.on_candle(c, 0.0) for c in candles_from([100.0, 100.1, 100.0, 110.0, 100.0, 112.0])]
    assert reasons[:3] == [None, None, None]
    assert "volatility breaker" in reasons[3] and reasons[4:] == [None, None]


def test_volatility_breaker_snapshot_continues_bit_for_bit():
    closes = [100.0 * (1 + 0.003 * math.sin(i)) for i in range(40)]
    for atr in (False, True):
        whole = VolatilityBreaker(7, threshold=0.002, atr=atr, cooldown_candles=3)
        first = VolatilityBreaker(7, threshold=0.002, atr=atr, cooldown_candles=3)
        candles = candles_from(closes, spread=0.2)
        for c in candles[:23]:
            whole.on_candle(c, 0.0)
            first.on_candle(c, 0.0)
        restored = VolatilityBreaker(7, threshold=0.002, atr=atr, cooldown_candles=3)
        restored.restore(first.snapshot())
        for c in candles[23:]:
            whole.on_candle(c, 0.0)
            restored.on_candle(c, 0.0)
            assert (restored.value, restored.latch.tripped) == (whole.value, whole.latch.tripped)
        assert restored.snapshot() == whole.snapshot()


def test_spread_breaker_pauses_at_once_and_counts_the_cooldown_in_candles():
    breaker = SpreadBreaker(25.0, cooldown_candles=1)
    candle = candles_from([100.0])[0]
    breaker.observe(25.0)                                     # exactly at the limit
    assert breaker.refusal() is None
    breaker.observe(25.5)
    refusal = breaker.refusal()
    assert refusal.rule == "spread_breaker" and refusal.inputs["spread_bps"] == 25.5
    breaker.observe(10.0)
    assert breaker.refusal() is not None                      # clears only as a candle closes
    breaker.on_candle(candle, 0.0)
    assert breaker.refusal() is not None                      # the cool-down candle
    breaker.on_candle(candle, 0.0)
    assert breaker.refusal() is None


def test_spread_breaker_never_trips_without_quotes_and_hands_a_kill_to_on_candle():
    quiet = SpreadBreaker(5.0, kill=True)
    assert quiet.on_candle(candles_from([1.0])[0], 0.0) is None and quiet.refusal() is None
    breaker = SpreadBreaker(5.0, kill=True)
    breaker.observe(8.0)
    breaker.observe(9.0)
    candle = candles_from([1.0])[0]
    assert "spread 8.00 bps is beyond 5.00 bps" in breaker.on_candle(candle, 0.0)
    assert breaker.on_candle(candle, 0.0) is None


def test_spread_breaker_snapshot_round_trip():
    breaker = SpreadBreaker(5.0, cooldown_candles=4)
    breaker.observe(8.0)
    breaker.observe(1.0)
    breaker.on_candle(candles_from([1.0])[0], 0.0)
    restored = SpreadBreaker(5.0, cooldown_candles=4)
    restored.restore(breaker.snapshot())
    assert restored.snapshot() == breaker.snapshot() == {
        "tripped": True, "cooldown_left": 3, "spread_bps": 1.0, "kill_reason": None}
