"""A limit signal is sized, capped and collared at its limit price, not at the last close."""

import pytest

from execution.models import Fill, Side
from market.models import Candle
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.decision import Verdict
from risk.engine import RuleRiskEngine
from strategies.signal import Direction, LimitSignal, Signal


def view_of(closes):
    view = MarketView("BTC/USD", "1m")
    for i, close in enumerate(closes):
        view.push(Candle(i * 60_000, close, close, close, close, 1.0))
    return view


def limit_long(price, expire_after=None):
    return LimitSignal(Direction.LONG, "dip", price=price, expire_after=expire_after)


def test_a_limit_entry_buys_the_stake_at_its_limit_price_as_a_quantity():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5, stop_loss_pct=0.02))
    decision = engine.check_all(limit_long(80.0), Portfolio("BTC/USD", 1_000), view_of([100.0]))
    assert (decision.verdict, decision.side, decision.price) == (Verdict.APPROVE, Side.BUY, 80.0)
    assert decision.quote_amount is None
    assert decision.quantity == pytest.approx(500.0 / 80.0)          # not 500 / 100, the close
    assert decision.stop_loss_pct == 0.02                            # exits still ride on the entry


def test_a_market_entry_is_sized_as_before():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5))
    decision = engine.check_all(Signal(Direction.LONG), Portfolio("BTC/USD", 1_000), view_of([100.0]))
    assert (decision.quote_amount, decision.quantity, decision.price) == (500.0, None, None)


def test_max_order_notional_caps_a_limit_entry_at_its_limit_price():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5, max_order_notional=300))
    decision = engine.check_all(limit_long(60.0), Portfolio("BTC/USD", 1_000), view_of([100.0]))
    assert (decision.verdict, decision.rule) == (Verdict.RESIZE, "max_order_notional")
    assert decision.quantity * decision.price == pytest.approx(300.0)
    assert decision.quantity == pytest.approx(5.0)
    assert decision.inputs["limit_price"] == 60.0


def test_the_price_collar_looks_at_the_limit_price_not_the_last_close():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5, price_collar_pct=0.05, price_collar_window=3))
    view = view_of([100.0, 100.0, 100.0, 100.0])
    portfolio = Portfolio("BTC/USD", 1_000)
    assert engine.check_all(limit_long(95.0), portfolio, view).approved               # exactly 5% below the mean
    refusal = engine.check_all(limit_long(94.0), portfolio, view)
    assert (refusal.verdict, refusal.rule) == (Verdict.REJECT, "price_collar")
    assert refusal.inputs["limit_price"] == 94.0 and "limit price 94 is 6.00% from the mean 100" in refusal.reason
    assert engine.check_all(Signal(Direction.LONG), portfolio, view).approved          # the close itself is fine


def test_a_limit_exit_sells_the_closable_position_at_its_price():
    engine = RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5))
    portfolio = Portfolio("BTC/USD", 1_000)
    portfolio.apply_fill(Fill("o", "BTC/USD", Side.BUY, 2.0, 100.0, 0.0, 0))
    decision = engine.check_all(LimitSignal(Direction.FLAT, "take", price=110.0), portfolio, view_of([100.0]),
                                closable=1.5)
    assert (decision.side, decision.quantity, decision.price, decision.quote_amount) == (Side.SELL, 1.5, 110.0, None)


@pytest.mark.parametrize("fields, message", [
    ({"price": float("nan")}, "finite price above 0"),
    ({"price": 0.0}, "finite price above 0"),
    ({"price": 10.0, "expire_after": 0}, "expire_after is a number of candles, 1 or more"),
    ({"price": 10.0, "expire_after": 2.5}, "expire_after is a number of candles"),
])
def test_a_limit_signal_with_a_bad_price_or_expiry_is_refused_when_made(fields, message):
    with pytest.raises(ValueError, match=message):
        LimitSignal(Direction.LONG, **fields)
