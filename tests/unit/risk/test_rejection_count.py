"""`RuleRiskEngine.rejections` counts every decision that sends nothing, whichever way out of
`check_all` it took (a pending order, already flat or long, a short, no price, the price collar,
a gate, nothing to spend), and never one that sends an order (approved, or resized by a rule)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from market.models import Candle
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from strategies.signal import Direction, LimitSignal, Signal
from tests.unit.risk.test_sizing_properties import ledgers, risk_configs

SIGNALS = [Signal(Direction.LONG), Signal(Direction.FLAT), Signal(Direction.SHORT), LimitSignal(Direction.LONG, price=90.0)]


def view_of(closes: list[float]) -> MarketView:
    view = MarketView("BTC/USD", "1m")
    for i, close in enumerate(closes):
        view.push(Candle(i * 60_000, close, close, close, close, 1.0))
    return view


def counted(engine: RuleRiskEngine, *args, **options) -> tuple[bool, int]:
    before = engine.rejections
    decision = engine.check_all(*args, **options)
    return decision.approved, engine.rejections - before


@settings(max_examples=300, deadline=None)
@given(portfolio=ledgers(), config=risk_configs, signal=st.sampled_from(SIGNALS), pending=st.booleans(),
       dust=st.booleans())
def test_a_decision_is_counted_as_a_rejection_exactly_when_it_sends_nothing(portfolio, config, signal, pending, dust):
    closable = 0.0 if dust and portfolio.quantity else None
    engine = RuleRiskEngine.from_config(config)
    approved, counted_now = counted(engine, signal, portfolio, view_of([100.0]), orders_pending=pending,
                                    closable=closable)
    assert counted_now == (0 if approved else 1)


def test_refusals_by_price_collar_gate_and_sizing_are_counted_and_a_resize_is_not():
    collar = RuleRiskEngine.from_config(RiskConfig(price_collar_pct=0.05, price_collar_window=3))
    assert counted(collar, SIGNALS[0], Portfolio("BTC/USD", 1_000), view_of([100.0, 100.0, 100.0, 106.0])) == (False, 1)
    assert counted(collar, SIGNALS[0], Portfolio("BTC/USD", 1_000), view_of([100.0, 100.0, 100.0, 101.0])) == (True, 0)
    no_price = RuleRiskEngine.from_config(RiskConfig())
    assert counted(no_price, SIGNALS[0], Portfolio("BTC/USD", 1_000), view_of([math.nan])) == (False, 1)
    gated = RuleRiskEngine.from_config(RiskConfig.model_validate({"spread_breaker": {"max_bps": 10}}))
    gated.set_spread_bps(50.0)
    gated.on_candle(Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0), 1_000.0)
    assert counted(gated, SIGNALS[0], Portfolio("BTC/USD", 1_000), view_of([100.0])) == (False, 1)
    capped = RuleRiskEngine.from_config(RiskConfig(max_order_notional=100.0))
    assert counted(capped, SIGNALS[0], Portfolio("BTC/USD", 1_000), view_of([100.0])) == (True, 0)
    broke = Portfolio("BTC/USD", 1_000)
    broke.cash = 0.0
    assert counted(capped, SIGNALS[0], broke, view_of([100.0])) == (False, 1)
    assert capped.rejections == 1
