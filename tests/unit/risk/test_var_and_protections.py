"""VaR and ES against a hand computation (numpy's percentile for the historical quantile), and
each protection alone: the cool-down after a stop, the losing streak, the lookback drawdown."""

import statistics

import numpy as np
import pytest

from execution.models import Fill, Side
from market.models import Candle
from risk.protections import CooldownAfterStop, LookbackDrawdown, LosingStreak
from risk.var import ValueAtRisk, historical_var_es, parametric_var_es

CANDLE = Candle(0, 1.0, 1.0, 1.0, 1.0, 1.0)
RETURNS = [0.01, -0.02, 0.005, -0.035, 0.012, -0.004, 0.0, 0.021, -0.011, -0.05, 0.003, 0.008]


def feed(rule, equities):
    for equity in equities:
        rule.on_candle(CANDLE, equity)


def equities_for(returns, start=1_000.0):
    equities = [start]
    for r in returns:
        equities.append(equities[-1] * (1 + r))
    return equities


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99, 0.5])
def test_historical_var_and_es_match_numpy(confidence):
    var, es = historical_var_es(RETURNS, confidence)
    quantile = np.percentile(RETURNS, (1 - confidence) * 100)
    assert var == pytest.approx(-quantile, rel=1e-12)
    tail = [r for r in RETURNS if r <= quantile]
    assert es == pytest.approx(-np.mean(tail), rel=1e-12)
    assert es >= var


def test_parametric_var_and_es_by_hand():
    mean, std = np.mean(RETURNS), np.std(RETURNS, ddof=1)
    var, es = parametric_var_es(RETURNS, 0.95)
    assert var == pytest.approx(1.6448536269514722 * std - mean, rel=1e-9)
    phi = np.exp(-1.6448536269514722 ** 2 / 2) / np.sqrt(2 * np.pi)
    assert es == pytest.approx(std * phi / 0.05 - mean, rel=1e-9)


def test_var_needs_a_full_window_then_refuses_only_above_the_limit():
    rule = ValueAtRisk(len(RETURNS), 0.95, "historical", 0.5)
    equities = equities_for(RETURNS)
    feed(rule, equities[:-1])
    assert rule.var_es() is None and rule.figures() == {"var": None, "es": None}
    feed(rule, equities[-1:])
    var, es = rule.var_es()
    returns = [b / a - 1 for a, b in zip(equities, equities[1:])]
    assert var == pytest.approx(-np.percentile(returns, 5), rel=1e-12)
    at_limit = ValueAtRisk(len(RETURNS), 0.95, "historical", var)
    feed(at_limit, equities)
    assert at_limit.refusal() is None
    below = ValueAtRisk(len(RETURNS), 0.95, "historical", var * 0.999)
    feed(below, equities)
    refusal = below.refusal()
    assert refusal.rule == "var_limit" and refusal.inputs == {
        "var": var, "es": es, "limit_pct": var * 0.999, "confidence": 0.95}


def test_var_keeps_only_the_window_and_survives_a_snapshot():
    rule = ValueAtRisk(5, 0.9, "parametric", 0.1)
    equities = equities_for(RETURNS)
    feed(rule, equities[:8])
    restored = ValueAtRisk(5, 0.9, "parametric", 0.1)
    restored.restore(rule.snapshot())
    feed(rule, equities[8:])
    feed(restored, equities[8:])
    assert restored.var_es() == rule.var_es()
    returns = [b / a - 1 for a, b in zip(equities, equities[1:])][-5:]
    assert rule.var_es()[0] == pytest.approx(
        statistics.NormalDist().inv_cdf(0.9) * statistics.stdev(returns) - statistics.fmean(returns), rel=1e-12)


def fill(side, qty, price, fee=0.0, reason=""):
    return Fill("o", "BTC/USD", side, qty, price, fee, 0, reason)


def test_cooldown_after_stop_refuses_the_next_n_candle_closes():
    rule = CooldownAfterStop(2)
    rule.on_fill(fill(Side.SELL, 1.0, 90.0, reason="take_profit"))
    assert rule.refusal() is None
    rule.on_fill(fill(Side.SELL, 1.0, 90.0, reason="stop_loss"))   # inside candle t
    blocked = []
    for _ in range(4):
        rule.on_candle(CANDLE, 0.0)                                  # the closes of t, t+1, ...
        blocked.append(rule.refusal() is not None)
    assert blocked == [True, True, False, False]
    assert rule.refusal() is None


def round_trip(rule, buy, sell, fee=0.0):
    rule.on_fill(fill(Side.BUY, 1.0, buy, fee))
    rule.on_fill(fill(Side.SELL, 1.0, sell, fee))


def test_losing_streak_pauses_after_n_losses_in_a_row():
    rule = LosingStreak(2, 3)
    round_trip(rule, 100.0, 99.0)
    round_trip(rule, 100.0, 100.0)                 # breaking even ends the streak
    round_trip(rule, 100.0, 99.0)
    assert rule.streak == 1 and rule.refusal() is None
    round_trip(rule, 100.0, 100.0, fee=0.01)       # fees make it a loss: the second in a row
    refusal = rule.refusal()
    assert refusal.rule == "losing_streak" and rule.streak == 0
    blocked = []
    for _ in range(4):
        rule.on_candle(CANDLE, 0.0)
        blocked.append(rule.refusal() is not None)
    assert blocked == [True, True, True, False]


def test_losing_streak_follows_partial_fills_to_the_round_trips_end():
    rule = LosingStreak(1, 1)
    rule.on_fill(fill(Side.BUY, 0.5, 100.0))
    rule.on_fill(fill(Side.BUY, 0.5, 102.0))
    rule.on_fill(fill(Side.SELL, 0.7, 101.0))
    assert rule.refusal() is None                  # still open
    restored = LosingStreak(1, 1)
    restored.restore(rule.snapshot())
    restored.on_fill(fill(Side.SELL, 0.3, 100.5))  # 50 + 51 in, 70.7 + 30.15 out: a loss
    assert restored.refusal() is not None


def test_lookback_drawdown_pauses_at_the_limit_within_the_window():
    rule = LookbackDrawdown(window_candles=3, max_pct=0.25, pause_candles=2)
    blocked = []
    for equity in [1_000.0, 900.0, 800.0, 760.0, 750.0, 750.0, 750.0, 750.0]:
        rule.on_candle(CANDLE, equity)
        blocked.append(rule.refusal() is not None)
    # A slow fall: 25% below 1,000, but never within 3 candles of it.
    assert not any(blocked)
    rule = LookbackDrawdown(window_candles=3, max_pct=0.25, pause_candles=2)
    blocked = []
    for equity in [1_000.0, 900.0, 750.0, 740.0, 800.0, 800.0]:
        rule.on_candle(CANDLE, equity)
        blocked.append(rule.refusal() is not None)
    # 750 is exactly 25% below 1,000: paused on that candle and the next (the pause does not
    # look again); then the window's best is 800 and nothing trips.
    assert blocked == [False, False, True, True, False, False]
    assert rule.refusal() is None


def test_lookback_drawdown_snapshot_round_trip():
    rule = LookbackDrawdown(window_candles=4, max_pct=0.1, pause_candles=5)
    feed(rule, [100.0, 120.0, 110.0, 105.0, 107.0])
    restored = LookbackDrawdown(window_candles=4, max_pct=0.1, pause_candles=5)
    restored.restore(rule.snapshot())
    for equity in [90.0, 95.0, 130.0, 100.0]:
        rule.on_candle(CANDLE, equity)
        restored.on_candle(CANDLE, equity)
        assert restored.snapshot() == rule.snapshot()
