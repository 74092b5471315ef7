"""The ledger never books a fill that would make it NaN or infinite."""

from __future__ import annotations

import math

import pytest

from execution.models import Fill, Side
from portfolio.portfolio import Portfolio


@pytest.mark.parametrize("values", [
    dict(quantity=math.inf, price=100.0, fee=0.0), dict(quantity=math.nan, price=100.0, fee=0.0),
    dict(quantity=0.0, price=100.0, fee=0.0), dict(quantity=1.0, price=math.nan, fee=0.0),
    dict(quantity=1.0, price=100.0, fee=math.inf),
])
def test_a_fill_that_is_not_finite_and_positive_is_refused_and_leaves_the_ledger_alone(values):
    portfolio = Portfolio("BTC/USD", 1000.0)
    with pytest.raises(ValueError, match="fill of b-1: "):
        portfolio.apply_fill(Fill("b-1", "BTC/USD", Side.BUY, ts_ms=0, **values))
    assert portfolio.cash == 1000.0 and portfolio.quantity == 0.0 and portfolio.fill_count == 0
