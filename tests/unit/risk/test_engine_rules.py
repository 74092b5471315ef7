"""The engine with the rules of issue 11: config errors, decision records, exits never blocked,
snapshots of every stateful rule, and, with none of them configured, exactly the decisions the
engine gave before they existed."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from execution.models import Fill, Side
from market.models import Candle
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.decision import RiskDecision, Verdict
from risk.engine import RuleRiskEngine
from runner.config.errors import describe_errors
from strategies.signal import Direction, Signal

from tests.unit.risk.test_sizing_properties import ledgers, risk_configs

VIEW = MarketView("BTC/USD", "1m")
LONG, FLAT = Signal(Direction.LONG), Signal(Direction.FLAT)
EVERY_RULE = {
    "max_order_notional": 500.0, "price_collar_pct": 0.05, "price_collar_window": 3,
    "daily_target_pct": 0.05, "max_fill_deviation_pct": 0.01, "pause_on_fill_deviation": True,
    "volatility_breaker": {"window": 3, "threshold": 0.01, "cooldown_candles": 2, "action": "pause"},
    "spread_breaker": {"max_bps": 20, "cooldown_candles": 1, "action": "kill"},
    "var": {"window": 4, "confidence": 0.95, "method": "historical", "limit_pct": 0.02},
    "protections": {"cooldown_after_stop_candles": 3, "max_losing_streak": 2, "streak_pause_candles": 4,
                    "lookback_drawdown": {"window_candles": 5, "max_pct": 0.1, "pause_candles": 3}},
}


def candle(i, close):
    return Candle(i * 60_000, close, close * 1.002, close * 0.998, close, 1.0)


def long_portfolio(qty=1.0, price=100.0, capital=1_000.0):
    p = Portfolio("BTC/USD", capital)
    p.apply_fill(Fill("o", "BTC/USD", Side.BUY, qty, price, 0.0, 0))
    p.mark(price)
    return p


# -- config -----------------------------------------------------------------------------------

@pytest.mark.parametrize("risk, message", [
    ({"max_order_notional": 0}, "risk.max_order_notional: must be > 0 and <= 1e+15, got 0"),
    ({"price_collar_pct": 0.05}, "price_collar_pct and price_collar_window go together"),
    ({"price_collar_window": 10}, "price_collar_pct and price_collar_window go together"),
    ({"price_collar_pct": 1.0, "price_collar_window": 10}, "risk.price_collar_pct: must be > 0 and < 1, got 1.0"),
    ({"price_collar_pct": 0.1, "price_collar_window": 500}, "risk.price_collar_window: must be >= 1 and <= 499"),
    ({"daily_target_pct": -0.1}, "risk.daily_target_pct: must be > 0 and <= 100"),
    ({"max_fill_deviation_pct": 2}, "risk.max_fill_deviation_pct: must be > 0 and < 1"),
    ({"pause_on_fill_deviation": True}, "pause_on_fill_deviation needs max_fill_deviation_pct"),
    ({"volatility_breaker": {"window": 1, "threshold": 0.01}}, "risk.volatility_breaker.window: must be >= 2"),
    ({"volatility_breaker": {"window": 10, "threshold": 0}}, "risk.volatility_breaker.threshold: must be > 0"),
    ({"volatility_breaker": {"window": 10, "threshold": 0.01, "action": "halt"}},
     "risk.volatility_breaker.action: must be one of 'pause' or 'kill'"),
    ({"volatility_breaker": {"window": 10, "threshold": 0.01, "cooldown_candles": -1}},
     "risk.volatility_breaker.cooldown_candles: must be >= 0"),
    ({"volatility_breaker": {"window": 10, "threshold": 0.01, "atr": "yes"}}, "risk.volatility_breaker.atr: must be true or false"),
    ({"spread_breaker": {"max_bps": 0}}, "risk.spread_breaker.max_bps: must be > 0 and <= 10000"),
    ({"spread_breaker": {"max_bps": 10, "windw": 3}}, "risk.spread_breaker.windw: unknown field"),
    ({"var": {"window": 100, "confidence": 1.0, "limit_pct": 0.01}}, "risk.var.confidence: must be >= 0.5 and < 1"),
    ({"var": {"window": 100, "method": "monte_carlo", "limit_pct": 0.01}}, "risk.var.method: must be one of"),
    ({"var": {"window": 100}}, "risk.var.limit_pct: required field is missing"),
    ({"protections": {"cooldown_after_stop_candles": 0}}, "risk.protections.cooldown_after_stop_candles: must be >= 1"),
    ({"protections": {"max_losing_streak": 3}}, "max_losing_streak and streak_pause_candles go together"),
    ({"protections": {"lookback_drawdown": {"window_candles": 10, "max_pct": 0.1}}},
     "risk.protections.lookback_drawdown.pause_candles: required field is missing"),
])
def test_each_bad_setting_is_a_clear_config_error(risk, message):
    with pytest.raises(ValidationError) as caught:
        RiskConfig.model_validate(risk)
    lines = describe_errors(caught.value, RiskConfig, ("risk",))
    assert any(message in line for line in lines), lines


def test_every_rule_is_off_by_default():
    config = RiskConfig()
    engine = RuleRiskEngine.from_config(config)
    assert engine.gates == () and engine.figures() == {}
    assert engine.max_order_notional is None and engine.price_collar is None
    assert engine.check_fill_price(50.0, 100.0) is None
    assert RuleRiskEngine.from_config(RiskConfig.model_validate(EVERY_RULE)).figures().keys() >= {
        "var", "es", "volatility", "volatility_breaker", "spread_breaker", "daily_target_reached"}


# -- with no new rule, today's decisions --------------------------------------------------------

def todays_decision(config: RiskConfig, signal, portfolio, closable=None, orders_pending=False):
    """The engine's decision as it was before issue 11, written out."""
    position = 0.0 if closable == 0.0 else portfolio.quantity
    if orders_pending:
        return RiskDecision(Verdict.REJECT, "an order is still pending; one decision at a time")
    if signal.direction is Direction.FLAT:
        if position == 0.0:
            return RiskDecision(Verdict.REJECT, "already flat")
        return RiskDecision(Verdict.APPROVE, "exit", Side.SELL, quantity=abs(position) if closable is None else closable)
    if position > 0.0:
        return RiskDecision(Verdict.REJECT, "already long")
    amount = max(portfolio.cash, 0.0) * config.stake_pct
    amount = min(amount, max(config.max_position_pct * portfolio.equity - abs(portfolio.position_value), 0.0))
    if amount < 1e-9:
        return RiskDecision(Verdict.REJECT, f"nothing to spend: cash {portfolio.cash:.2f}, equity {portfolio.equity:.2f}")
    return RiskDecision(Verdict.APPROVE, "entry", Side.BUY, quote_amount=amount,
                        stop_loss_pct=config.stop_loss_pct, take_profit_pct=config.take_profit_pct)


@settings(max_examples=300, deadline=None)
@given(portfolio=ledgers(), config=risk_configs, signal=st.sampled_from([LONG, FLAT]),
       pending=st.booleans(), dust=st.booleans())
def test_without_new_rules_the_decisions_are_todays(portfolio, config, signal, pending, dust):
    closable = 0.0 if dust and portfolio.quantity else None
    engine = RuleRiskEngine.from_config(config)
    got = engine.check_all(signal, portfolio, VIEW, orders_pending=pending, closable=closable)
    want = todays_decision(config, signal, portfolio, closable, pending)
    fields = ("reason", "side", "quantity", "quote_amount", "stop_loss_pct", "take_profit_pct")
    assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
    assert got.approved == (want.verdict is Verdict.APPROVE)
    # The only addition: the audit record of a rule that capped or refused an entry.
    assert got.rule in ("", "sizing", "max_position")
    assert (got.verdict is Verdict.RESIZE) == (got.rule == "max_position" and got.approved)


def test_without_new_rules_on_candle_is_check_kill_and_the_snapshot_is_unchanged():
    engine = RuleRiskEngine.from_config(RiskConfig(daily_max_loss_pct=0.1, max_drawdown_pct=0.2))
    twin = RuleRiskEngine.from_config(RiskConfig(daily_max_loss_pct=0.1, max_drawdown_pct=0.2))
    for i, (equity, peak) in enumerate([(1_000.0, 1_000.0), (950.0, 1_000.0), (899.0, 1_000.0), (790.0, 1_000.0)]):
        assert engine.on_candle(candle(i, 1.0), equity, peak) == twin.check_kill(i * 60_000, equity, peak)
        assert engine.on_candle(candle(i, 1.0), equity) is None
    assert set(engine.snapshot()) == {"rejections", "day", "day_start_equity"}


# -- decisions with the new rules ---------------------------------------------------------------

def test_max_order_notional_resizes_the_entry_and_says_so():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5, max_order_notional=300))
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 1_000), VIEW)
    assert (decision.verdict, decision.quote_amount, decision.approved) == (Verdict.RESIZE, 300.0, True)
    assert decision.record() == {"rule": "max_order_notional", "verdict": "resize", "reason": "entry",
                                 "inputs": {"asked": 500.0, "max_order_notional": 300.0, "amount": 300.0}}
    exactly = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5, max_order_notional=500))
    decision = exactly.check_all(LONG, Portfolio("BTC/USD", 1_000), VIEW)
    assert (decision.verdict, decision.quote_amount, decision.rule) == (Verdict.APPROVE, 500.0, "")


def test_max_position_resize_is_recorded():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0, max_position_pct=0.3))
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 10_000), VIEW)
    assert (decision.verdict, decision.rule) == (Verdict.RESIZE, "max_position")
    assert decision.inputs["asked"] == 10_000.0 and decision.inputs["amount"] == pytest.approx(3_000.0)


def tripped_engine():
    """An engine with every rule configured and every gate refusing."""
    engine = RuleRiskEngine.from_config(RiskConfig.model_validate(EVERY_RULE))
    closes = [100.0, 100.0, 100.0, 100.0, 120.0, 95.0, 80.0]
    equity = [1_000.0, 1_100.0, 1_200.0, 1_000.0, 900.0, 700.0, 600.0]
    for i, (close, eq) in enumerate(zip(closes, equity)):
        engine.on_candle(candle(i, close), eq)
    engine.set_spread_bps(30.0)
    engine.on_fill(Fill("s", "BTC/USD", Side.SELL, 1.0, 80.0, 0.0, 0, "stop_loss"))
    return engine


def test_exits_are_never_blocked_by_any_rule():
    engine = tripped_engine()
    portfolio = long_portfolio()
    assert all(gate.refusal() is not None for gate in engine.gates if gate.name != "losing_streak")
    decision = engine.check_all(FLAT, portfolio, VIEW)
    assert (decision.verdict, decision.side, decision.quantity, decision.rule) == (Verdict.APPROVE, Side.SELL, 1.0, "")


def test_an_entry_is_refused_by_the_first_gate_with_its_record():
    engine = tripped_engine()
    decision = engine.check_all(LONG, Portfolio("BTC/USD", 1_000), VIEW)
    assert (decision.verdict, decision.rule) == (Verdict.REJECT, "daily_target")
    assert engine.rejections == 1
    view = MarketView("BTC/USD", "1m")
    for i, close in enumerate([100.0, 100.0, 100.0, 106.0]):
        view.push(candle(i, close))
    assert engine.check_all(LONG, Portfolio("BTC/USD", 1_000), view).rule == "price_collar"


def test_a_kill_breaker_trips_through_on_candle():
    engine = RuleRiskEngine.from_config(RiskConfig.model_validate(
        {"volatility_breaker": {"window": 2, "threshold": 0.01, "action": "kill"}, "max_drawdown_pct": 0.5}))
    reasons = [engine.on_candle(candle(i, c), 1_000.0, 1_000.0) for i, c in enumerate([100.0, 100.0, 100.0, 110.0])]
    assert reasons[:3] == [None, None, None] and reasons[3].startswith("volatility breaker")
    # The drawdown's reason comes first when both trip on one candle.
    assert "drawdown" in engine.on_candle(candle(4, 90.0), 400.0, 1_000.0)


def test_spread_feed_and_fill_price_check():
    engine = RuleRiskEngine.from_config(RiskConfig.model_validate(
        {"spread_breaker": {"max_bps": 10, "action": "kill"}, "max_fill_deviation_pct": 0.02}))
    engine.set_spread_bps(10.0)
    assert engine.on_candle(candle(0, 1.0), 1.0) is None
    engine.set_spread_bps(12.5)
    assert engine.check_all(LONG, Portfolio("BTC/USD", 1_000), VIEW).rule == "spread_breaker"
    assert "spread 12.50 bps" in engine.on_candle(candle(1, 1.0), 1.0)
    assert engine.check_fill_price(102.0, 100.0) is None and "2.50%" in engine.check_fill_price(102.5, 100.0)
    RuleRiskEngine.from_config(RiskConfig()).set_spread_bps(1e6)      # no breaker: ignored


def run(engine, closes, start=0):
    decisions = []
    for i, close in enumerate(closes, start):
        equity = 1_000.0 * close / 100.0
        engine.on_candle(candle(i, close), equity, 1_500.0)
        if i % 7 == 3:
            engine.on_fill(Fill("b", "BTC/USD", Side.BUY, 1.0, close, 0.1, i))
            engine.on_fill(Fill("s", "BTC/USD", Side.SELL, 1.0, close * 0.99, 0.1, i,
                                "stop_loss" if i % 2 else "exit"))
        engine.set_spread_bps(5.0 + (i % 11) * 2)
        decisions.append(engine.check_all(LONG, Portfolio("BTC/USD", 1_000), VIEW))
    return decisions


def test_every_rules_state_survives_a_snapshot():
    closes = [100.0 * (1 + 0.1 * math.sin(i / 2.0) + 0.02 * (i % 3)) for i in range(80)]
    config = RiskConfig.model_validate({
        **EVERY_RULE, "daily_max_loss_pct": 0.5, "daily_target_pct": 0.15, "price_collar_pct": None,
        "price_collar_window": None, "volatility_breaker": {"window": 3, "threshold": 0.05, "cooldown_candles": 2}})
    whole, first = RuleRiskEngine.from_config(config), RuleRiskEngine.from_config(config)
    run(whole, closes[:40])
    run(first, closes[:40])
    restored = RuleRiskEngine.from_config(config)
    restored.restore(first.snapshot())
    assert restored.snapshot() == whole.snapshot()
    assert run(restored, closes[40:], 40) == run(whole, closes[40:], 40)
    assert restored.snapshot() == whole.snapshot() and restored.figures() == whole.figures()
    assert len({d.rule for d in run(whole, closes, 80)} - {""}) >= 4      # the run exercises the rules


def test_an_old_snapshot_restores_into_an_engine_with_new_rules():
    old = RuleRiskEngine.from_config(RiskConfig(daily_max_loss_pct=0.1))
    old.check_kill(0, 1_000.0, 1_000.0)
    engine = RuleRiskEngine.from_config(RiskConfig.model_validate({"daily_max_loss_pct": 0.1, **EVERY_RULE}))
    engine.restore(old.snapshot())
    assert engine.snapshot()["day_start_equity"] == 1_000.0
