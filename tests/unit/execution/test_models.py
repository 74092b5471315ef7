"""Orders and fills survive the journal and snapshots: to a dict, through JSON, and back, equal."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.models import (Fill, Order, OrderType, Side, fill_from_dict, fill_to_dict, order_from_dict,
                              order_to_dict)

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=36)
amounts = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False)
percents = st.none() | st.floats(min_value=1e-6, max_value=1.0)


@st.composite
def orders(draw) -> Order:
    kind = draw(st.sampled_from(["market buy by quote", "market", "limit", "stop"]))
    side = Side.BUY if kind == "market buy by quote" else draw(st.sampled_from(Side))
    order_type = OrderType.MARKET if kind.startswith("market") else OrderType(kind)
    return Order(
        draw(ids), draw(st.sampled_from(["BTC/USDT", "ETH/BTC"])), side, order_type,
        quantity=None if kind == "market buy by quote" else draw(amounts),
        quote_amount=draw(amounts) if kind == "market buy by quote" else None,
        price=draw(amounts) if order_type is OrderType.LIMIT else draw(st.none() | amounts),
        stop_price=draw(amounts) if order_type is OrderType.STOP else None,
        reason=draw(st.sampled_from(["", "enter long", "stop_loss", "kill switch: drawdown"])),
        created_ts_ms=draw(st.integers(min_value=0, max_value=2**53)),
        stop_loss_pct=draw(percents), take_profit_pct=draw(percents), oco_group=draw(st.none() | ids))


fills = st.builds(Fill, ids, st.sampled_from(["BTC/USDT", "ETH/BTC"]), st.sampled_from(Side), amounts, amounts,
                  st.floats(min_value=0, max_value=1e6), st.integers(min_value=0, max_value=2**53),
                  st.sampled_from(["", "exit", "take_profit"]), st.text(max_size=20))


@settings(max_examples=200, deadline=None)
@given(order=orders())
def test_an_order_comes_back_equal_from_its_journal_dict(order):
    assert order_from_dict(json.loads(json.dumps(order_to_dict(order)))) == order


@settings(max_examples=200, deadline=None)
@given(fill=fills)
def test_a_fill_comes_back_equal_from_its_journal_dict(fill):
    assert fill_from_dict(json.loads(json.dumps(fill_to_dict(fill)))) == fill


def test_a_fill_journalled_before_reason_and_fill_id_existed_reads_with_their_defaults():
    old = {"order_id": "o1", "symbol": "BTC/USDT", "side": "sell", "quantity": 0.5, "price": 100.0,
           "fee": 0.05, "fill_ts_ms": 60_000}

    fill = fill_from_dict(old)

    assert (fill.reason, fill.fill_id, fill.key, fill.side) == ("", "", "o1", Side.SELL)


def test_orders_and_fills_equal_field_by_field_hash_alike_as_when_they_were_frozen():
    # Not declared frozen (see execution.models), they still hash by their fields: a set or a
    # dict keyed by them keeps working, and two equal ones are one key.
    order = Order("o1", "BTC/USDT", Side.BUY, OrderType.MARKET, quote_amount=100.0, reason="entry")
    fill = Fill("o1", "BTC/USDT", Side.BUY, 0.01, 10_000.0, 0.1, 60_000, "entry")

    assert len({order, dataclasses.replace(order)}) == 1 and len({fill, dataclasses.replace(fill)}) == 1
    assert hash(dataclasses.replace(order, quote_amount=200.0)) != hash(order)


def test_an_order_changed_with_replace_is_checked_as_a_new_one():
    order = Order("o1", "BTC/USDT", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0)

    with pytest.raises(ValueError, match="stop_price must be a finite number"):
        dataclasses.replace(order, stop_price=float("nan"))
