"""A trailing stop set in the risk config reaches the entry order: by a fraction, or by a
multiple of the ATR at the entry (none while the ATR warms up), kept across a snapshot."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from market.models import Candle
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from strategies.signal import Direction, Signal

LONG = Signal(Direction.LONG)


def entry(engine: RuleRiskEngine):
    view = MarketView("BTC/USD", "1m")
    view.push(Candle(0, 100, 100, 100, 100, 1))
    return engine.check_all(LONG, Portfolio("BTC/USD", 1_000.0), view)


def test_a_trailing_stop_by_a_fraction_rides_on_every_entry():
    decision = entry(RuleRiskEngine.from_config(RiskConfig(trailing_stop_pct=0.02)))
    assert (decision.trailing_stop_pct, decision.trailing_stop_distance) == (0.02, None)


def test_a_trailing_stop_by_atr_is_that_many_atrs_at_the_entry_and_none_while_it_warms_up():
    engine = RuleRiskEngine.from_config(RiskConfig(trailing_stop_atr={"multiple": 3, "period": 2}))
    assert entry(engine).trailing_stop_distance is None
    for i, (high, low, close) in enumerate([(102, 98, 100), (104, 100, 103)]):   # true ranges 4 and 4
        engine.on_candle(Candle(i * 60_000, close, high, low, close, 1), 1_000.0, 1_000.0)
    assert entry(engine).trailing_stop_distance == pytest.approx(3 * 4.0)
    restored = RuleRiskEngine.from_config(RiskConfig(trailing_stop_atr={"multiple": 3, "period": 2}))
    restored.restore(engine.snapshot())
    assert entry(restored).trailing_stop_distance == pytest.approx(12.0)


def test_only_one_kind_of_trailing_stop_may_be_set():
    with pytest.raises(ValidationError, match="set one of them"):
        RiskConfig(trailing_stop_pct=0.02, trailing_stop_atr={"multiple": 3})
