"""The health score's formula on crafted trades, and the drift detector's thresholds."""

from __future__ import annotations

import pytest

from risk.governance.drift import DriftAction, DriftDetector, RunFigures
from risk.governance.health import HealthScore


def test_health_is_one_until_there_are_enough_trades():
    health = HealthScore(window_trades=10, min_trades=5)
    for _ in range(4):
        assert health.add(-0.05) == 1.0
    assert health.add(-0.05) == 0.0      # five losers: no win, no gain, 22.6% down (scale: 20%)
    assert health.size_multiplier == 0.1


def test_health_follows_its_formula():
    health = HealthScore(window_trades=4, min_trades=4, drawdown_scale_pct=0.20)
    for r in (0.02, -0.01, 0.03, -0.01):
        score = health.add(r)
    # win rate 2/4; pf term 0.05 / (0.05 + 0.02); drawdown 1% (after the first trade): 1 - 0.01/0.2
    assert score == pytest.approx((0.5 + 0.05 / 0.07 + (1 - 0.01 / 0.20)) / 3)


def test_health_looks_at_the_last_trades_only():
    health = HealthScore(window_trades=5, min_trades=5)
    for _ in range(5):
        health.add(-0.01)
    for _ in range(5):
        health.add(0.01)
    assert health.score == 1.0
    restored = HealthScore(window_trades=5, min_trades=5)
    restored.restore(health.snapshot())
    assert restored.score == 1.0 and restored.trades == 5


BACKTEST = RunFigures(trades=10, total_return=0.10)


@pytest.mark.parametrize(("bot_return", "action"), [
    (0.071, DriftAction.NONE),       # 29% under the backtest's return
    (0.069, DriftAction.REDUCE),     # 31%
    (0.049, DriftAction.PAUSE),      # 51%
    (0.129, DriftAction.NONE),       # 29% over it: the gap is absolute
    (0.131, DriftAction.REDUCE),
])
def test_drift_thresholds_on_the_return(bot_return, action):
    assessment = DriftDetector().assess(RunFigures(10, bot_return), BACKTEST)
    assert assessment.action is action
    assert assessment.divergence == pytest.approx(abs(bot_return - 0.10) / 0.10)


@pytest.mark.parametrize(("bot_trades", "backtest_trades", "action"), [
    (71, 100, DriftAction.NONE), (69, 100, DriftAction.REDUCE), (49, 100, DriftAction.PAUSE),
])
def test_drift_thresholds_on_the_trade_count(bot_trades, backtest_trades, action):
    figures = RunFigures(bot_trades, 0.10)
    assert DriftDetector().assess(figures, RunFigures(backtest_trades, 0.10)).action is action


def test_a_backtest_that_made_about_nothing_is_compared_against_the_return_floor():
    assessment = DriftDetector(return_floor=0.01).assess(RunFigures(10, 0.004), RunFigures(10, 0.0001))
    assert assessment.return_gap == pytest.approx(0.0039 / 0.01) and assessment.action is DriftAction.REDUCE


def test_too_few_trades_are_not_compared():
    assessment = DriftDetector(min_trades=3).assess(RunFigures(2, -0.05), RunFigures(0, 0.0))
    assert assessment.action is DriftAction.NONE and assessment.divergence is None
    assert "too few trades" in assessment.reason
