"""Property of the risk engine's sizing (Hypothesis): from any ledger that fills can reach, an
approved decision sizes its order with a finite, positive number, within the cash or position.

(Not covered, because fills cannot reach it: a ledger holding NaN or infinite cash would be
sized into a NaN or infinite order, as `max(nan, 0.0)` is NaN and `nan < minimum` is False.
The guard for that belongs at the order boundary.)"""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from execution.models import Fill, Order, Side
from market.models import Candle
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from strategies.signal import GO_FLAT, GO_LONG

SYMBOL = "BTC/USD"

prices = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)
fractions = st.floats(min_value=1e-6, max_value=1.0)


@st.composite
def ledgers(draw) -> Portfolio:
    """A ledger after a few round trips, each buying a share of the cash (all of it, often), paying
    a fee on top, and selling all, half or a speck of the position at a price from a total loss
    to a doubling: cash may end at zero or below, and a position may stay open."""
    portfolio = Portfolio(SYMBOL, draw(st.floats(min_value=1e-3, max_value=1e12)))
    fee_rates = st.sampled_from([0.0, 0.001, 0.05])
    for i in range(draw(st.integers(min_value=0, max_value=4))):
        if portfolio.quantity == 0.0:
            price = draw(prices)
            quantity = max(portfolio.cash, 1e-9) * draw(st.sampled_from([1.0, 0.5]) | fractions) / price
            side = Side.BUY
        else:
            price = portfolio.avg_entry_price * draw(st.sampled_from([1e-9, 0.5, 1.0, 2.0]) | st.floats(0.1, 10))
            quantity = portfolio.quantity * draw(st.sampled_from([1.0, 1.0, 0.5, 1e-9]))
            side = Side.SELL
        portfolio.apply_fill(Fill(f"o{i}", SYMBOL, side, quantity, price, quantity * price * draw(fee_rates), i))
    portfolio.mark(draw(prices))
    return portfolio


risk_configs = st.builds(
    RiskConfig, stake_pct=fractions, max_position_pct=fractions,
    stop_loss_pct=st.none() | st.floats(min_value=1e-4, max_value=0.99),
    take_profit_pct=st.none() | st.floats(min_value=1e-4, max_value=100))


def flat_after_losing_everything() -> Portfolio:
    """All the cash bought in, the fee on top, sold for nothing: flat, cash below zero."""
    portfolio = Portfolio(SYMBOL, 1_000)
    portfolio.apply_fill(Fill("in", SYMBOL, Side.BUY, 10.0, 100.0, 1.0, 1))
    portfolio.apply_fill(Fill("out", SYMBOL, Side.SELL, 10.0, 1e-7, 0.0, 2))
    portfolio.mark(1e-7)
    return portfolio


@settings(max_examples=300, deadline=None)
@given(portfolio=ledgers(), config=risk_configs, signal=st.sampled_from([GO_LONG, GO_FLAT]))
@example(portfolio=flat_after_losing_everything(), config=RiskConfig(), signal=GO_LONG)
def test_an_approved_decision_is_sized_by_a_finite_positive_number(portfolio, config, signal):
    decision = RuleRiskEngine.from_config(config).check_all(signal, portfolio, MarketView(SYMBOL, "1m"))
    if not decision.approved:
        return
    size = decision.quantity if decision.quote_amount is None else decision.quote_amount
    assert math.isfinite(size) and size > 0, decision
    assert decision.quote_amount is None or decision.quote_amount <= max(portfolio.cash, 0.0)
    assert decision.quantity is None or decision.quantity <= abs(portfolio.quantity)
    Order("o", SYMBOL, decision.side, quantity=decision.quantity, quote_amount=decision.quote_amount,
          stop_loss_pct=decision.stop_loss_pct, take_profit_pct=decision.take_profit_pct)


bad_prices = st.sampled_from([math.nan, 0.0, -1.0, -1e-9, math.inf, -math.inf])


@settings(max_examples=200, deadline=None)
@given(portfolio=ledgers(), config=risk_configs, price=bad_prices)
def test_no_entry_is_approved_on_a_nan_or_non_positive_price(portfolio, config, price):
    view = MarketView(SYMBOL, "1m")
    view.push(Candle(0, 100.0, 100.0, 100.0, price, 1.0))    # the close the entry would be decided on
    portfolio.mark(price)
    engine = RuleRiskEngine.from_config(config)

    entry = engine.check_all(GO_LONG, portfolio, view)
    assert not entry.approved
    if portfolio.quantity == 0.0:
        assert entry.rule == "price" and "no price to enter at" in entry.reason
    exit_ = engine.check_all(GO_FLAT, portfolio, view)      # exits are never refused for the price
    assert exit_.approved == (portfolio.quantity != 0.0)
