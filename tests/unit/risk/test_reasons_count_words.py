"""The risk rules' reasons say "1 candle" and "1 trade", not "1 candles" and "1 trades": they are
what `botrunner governance`, `status` and the journal show a person."""

from __future__ import annotations

from execution.models import Fill, Side
from market.models import Candle
from risk.breakers import SpreadBreaker
from risk.governance.drift import DriftDetector, RunFigures
from risk.governance.ladder import Ladder, Level, PromotionRule
from risk.protections import CooldownAfterStop

CANDLE = Candle(0, 1.0, 1.0, 1.0, 1.0, 1.0)


def test_a_cool_down_with_one_candle_left_says_one_candle():
    rule = CooldownAfterStop(2)
    rule.on_fill(Fill("o", "BTC/USD", Side.SELL, 1.0, 90.0, 0.0, 0, "stop_loss"))
    for _ in range(2):
        rule.on_candle(CANDLE, 0.0)
    assert rule.refusal().reason == "cool-down after a stop-loss: 1 candle left of 2"


def test_a_breaker_cooling_down_one_more_candle_says_one_candle():
    breaker = SpreadBreaker(25.0, cooldown_candles=2)
    breaker.observe(30.0)
    breaker.observe(10.0)
    breaker.on_candle(CANDLE, 0.0)
    breaker.on_candle(CANDLE, 0.0)             # the last candle it refuses
    assert breaker.refusal().reason.endswith("(or cooling down, 1 candle left)")


def test_a_promotion_earned_on_one_trade_says_one_trade():
    ladder = Ladder(Level.SHADOW, highest=Level.FULL, demote_drawdown_pct=0.10,
                    rule=PromotionRule(min_trades=1, min_win_rate=0.45, max_drawdown_pct=0.05))
    ladder.on_equity(10_000.0)
    assert ladder.on_trade(won=True).reason.startswith("the rule holds: 1 trade at L0")


def test_drift_of_one_trade_says_one_trade():
    assessment = DriftDetector(min_trades=1).assess(RunFigures(1, 0.10), RunFigures(10, 0.10))
    assert "1 trade vs 10)" in assessment.reason
