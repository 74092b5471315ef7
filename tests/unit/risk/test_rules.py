import pytest

from execution.models import Fill, Side
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.decision import Verdict
from risk.engine import RuleRiskEngine
from risk.kill_switch import KillSwitch
from risk.rules import DailyMaxLoss, MaxDrawdown, MaxPosition, PositionSizing
from strategies.signal import Direction, Signal

DAY_MS = 86_400_000
VIEW = MarketView("BTC/USD", "1m")
LONG, FLAT, SHORT = Signal(Direction.LONG), Signal(Direction.FLAT), Signal(Direction.SHORT)


def long_portfolio(qty=1.0, price=100.0, capital=1_000.0):
    p = Portfolio("BTC/USD", capital)
    p.apply_fill(Fill("o", "BTC/USD", Side.BUY, qty, price, 0.0, 0))
    p.mark(price)
    return p


def test_sizing_spends_the_stake_share_of_cash():
    assert PositionSizing(0.99).entry_amount(10_000.0) == pytest.approx(9_900.0)
    assert PositionSizing(0.5).entry_amount(-5.0) == 0.0


def test_max_position_caps_the_entry_to_the_room_left_under_the_limit():
    rule = MaxPosition(0.25)
    assert rule.cap(900.0, equity=1_000.0, position_value=0.0) == pytest.approx(250.0)
    assert rule.cap(900.0, equity=1_000.0, position_value=200.0) == pytest.approx(50.0)
    assert rule.cap(100.0, equity=1_000.0, position_value=400.0) == 0.0


def test_daily_max_loss_trips_only_against_the_same_days_start():
    rule = DailyMaxLoss(0.05)
    assert rule.check(0, 1_000.0) is None               # first candle of the day sets the base
    assert rule.check(60_000, 960.0) is None
    assert "daily loss 5.00%" in rule.check(120_000, 950.0)
    assert rule.check(DAY_MS, 900.0) is None            # a new day starts from 900
    assert rule.check(DAY_MS + 60_000, 860.0) is None


def test_max_drawdown_trips_at_the_limit_below_the_peak():
    rule = MaxDrawdown(0.2)
    assert rule.check(810.0, 1_000.0) is None
    assert "drawdown 20.00%" in rule.check(800.0, 1_000.0)


def test_entry_is_sized_by_stake_and_carries_the_protective_exits():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.99, stop_loss_pct=0.02, take_profit_pct=0.04))
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 10_000), VIEW)
    assert decision.verdict is Verdict.APPROVE
    assert decision.side is Side.BUY
    assert decision.quote_amount == pytest.approx(9_900.0)
    assert (decision.stop_loss_pct, decision.take_profit_pct) == (0.02, 0.04)


def test_entry_is_capped_by_max_position():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0, max_position_pct=0.3))
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 10_000), VIEW)
    assert decision.quote_amount == pytest.approx(3_000.0)


def test_exit_sells_the_whole_position():
    engine = RuleRiskEngine.from_config(RiskConfig())
    decision = engine.check_all(FLAT, long_portfolio(qty=2.5), VIEW)
    assert (decision.verdict, decision.side, decision.quantity) == (Verdict.APPROVE, Side.SELL, 2.5)


def test_exit_sells_what_one_order_can_close():
    engine = RuleRiskEngine.from_config(RiskConfig())
    decision = engine.check_all(FLAT, long_portfolio(qty=0.00634365), VIEW, closable=0.00634)
    assert (decision.verdict, decision.side, decision.quantity) == (Verdict.APPROVE, Side.SELL, 0.00634)


def test_a_position_no_order_can_close_is_dust_and_counts_as_flat():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5))
    dust = long_portfolio(qty=0.00000365)

    assert engine.check_all(FLAT, dust, VIEW, closable=0.0).reason == "already flat"
    entry = engine.check_all(LONG, dust, VIEW, closable=0.0)
    assert (entry.verdict, entry.side) == (Verdict.APPROVE, Side.BUY)


@pytest.mark.parametrize("signal, portfolio, reason", [
    (FLAT, Portfolio("BTC/USD", 1_000), "already flat"),
    (LONG, long_portfolio(), "already long"),
    (SHORT, Portfolio("BTC/USD", 1_000), "short selling is not enabled"),
])
def test_signals_that_change_nothing_or_are_not_allowed_are_rejected(signal, portfolio, reason):
    engine = RuleRiskEngine.from_config(RiskConfig())
    decision = engine.check_all(signal, portfolio, VIEW)
    assert decision.verdict is Verdict.REJECT and reason in decision.reason
    assert engine.rejections == 1


def test_no_new_decision_while_an_order_is_pending():
    engine = RuleRiskEngine.from_config(RiskConfig())
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 1_000), VIEW, orders_pending=True)
    assert decision.verdict is Verdict.REJECT and "pending" in decision.reason


def test_check_kill_names_the_rule_that_tripped():
    engine = RuleRiskEngine.from_config(RiskConfig(max_drawdown_pct=0.1))
    assert engine.check_kill(0, 950.0, 1_000.0) is None
    assert "drawdown" in engine.check_kill(60_000, 890.0, 1_000.0)
    assert RuleRiskEngine.from_config(RiskConfig()).check_kill(0, 1.0, 1_000.0) is None


def test_risk_state_survives_a_snapshot():
    engine = RuleRiskEngine.from_config(RiskConfig(daily_max_loss_pct=0.1))
    engine.check_kill(DAY_MS * 3, 1_000.0, 1_000.0)
    engine.check_all(FLAT, Portfolio("BTC/USD", 1_000), VIEW)
    restored = RuleRiskEngine.from_config(RiskConfig(daily_max_loss_pct=0.1))
    restored.restore(engine.snapshot())
    assert restored.snapshot() == engine.snapshot()
    assert "daily loss" in restored.check_kill(DAY_MS * 3 + 60_000, 890.0, 1_000.0)


def test_kill_switch_latches_the_first_reason():
    switch = KillSwitch()
    assert switch.trip("drawdown", 5)
    assert not switch.trip("by hand", 6)
    assert (switch.tripped, switch.reason, switch.ts_ms) == (True, "drawdown", 5)
    switch.reset()
    assert not switch.tripped


def test_safe_mode_size_multiplier_scales_every_entry_down():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.8), size_multiplier=0.1)
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 10_000), VIEW)
    assert decision.quote_amount == pytest.approx(800.0)
