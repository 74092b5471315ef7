"""The order boundary: no order with a NaN, infinite, zero or negative size or price exists."""

from __future__ import annotations

import math

import pytest

from execution.models import Order, OrderType, Side


@pytest.mark.parametrize("size", [
    dict(quantity=math.nan), dict(quantity=math.inf), dict(quantity=0.0), dict(quantity=-1.0),
    dict(quote_amount=math.inf), dict(quote_amount=math.nan),
])
def test_an_order_with_a_size_that_is_not_a_positive_number_is_refused(size):
    with pytest.raises(ValueError, match=r"order b-1: (quantity|quote_amount) must be a finite number > 0"):
        Order("b-1", "BTC/USD", Side.BUY, **size)


def test_a_limit_order_with_an_infinite_price_is_refused():
    with pytest.raises(ValueError, match="price must be a finite number > 0, got inf"):
        Order("b-1", "BTC/USD", Side.SELL, OrderType.LIMIT, quantity=1.0, price=math.inf)


def test_a_normal_order_is_fine():
    assert Order("b-1", "BTC/USD", Side.BUY, quote_amount=100.0).quote_amount == 100.0
