"""Properties of the ledger over random fill sequences (Hypothesis): the books balance after
every fill, replaying the fills from empty gives the same state, and so does a snapshot taken
midway, restored, with the rest of the fills applied."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.models import Fill, Side
from portfolio.portfolio import Portfolio

SYMBOL, CAPITAL = "BTC/USD", 10_000.0
BOUNDED = settings(max_examples=150, deadline=None)

prices = st.floats(min_value=0.01, max_value=100_000, allow_nan=False, allow_infinity=False)
quantities = st.floats(min_value=1e-6, max_value=1_000, allow_nan=False, allow_infinity=False)
fee_rates = st.floats(min_value=0.0, max_value=0.01)


@st.composite
def fill_sequences(draw) -> list[Fill]:
    """Buys and sells, longs and shorts, reversals through zero; each fee a fraction of the
    notional. Half the sequences end with a fill that closes whatever is open."""
    steps = draw(st.lists(st.tuples(st.sampled_from(Side), quantities, prices, fee_rates), min_size=1, max_size=30))
    fills = [Fill(f"o-{i}", SYMBOL, side, qty, price, qty * price * rate, 1_000 * (i + 1), f"r{i}")
             for i, (side, qty, price, rate) in enumerate(steps)]
    if draw(st.booleans()):
        position = Portfolio.replay(SYMBOL, CAPITAL, fills).quantity
        if position != 0.0:
            price, rate = draw(prices), draw(fee_rates)
            side = Side.SELL if position > 0 else Side.BUY
            fills.append(Fill("close", SYMBOL, side, abs(position), price, abs(position) * price * rate,
                              1_000 * (len(fills) + 1), "exit"))
    return fills


def scale(fills: list[Fill]) -> float:
    """The size of the money moved, for tolerances of sums that cancel."""
    return CAPITAL + sum(f.quantity * f.price + f.fee for f in fills)


@BOUNDED
@given(fills=fill_sequences(), mark_price=prices)
def test_cash_position_fees_and_pnl_stay_consistent_after_every_fill(fills, mark_price):
    portfolio = Portfolio(SYMBOL, CAPITAL)
    cash, position, fees = CAPITAL, 0.0, 0.0
    for n, fill in enumerate(fills, 1):
        portfolio.apply_fill(fill)
        cash -= fill.signed_quantity * fill.price + fill.fee
        position += fill.signed_quantity
        fees += fill.fee
        tolerance = 1e-9 * scale(fills[:n])
        assert portfolio.cash == pytest.approx(cash, abs=tolerance)
        assert portfolio.quantity == pytest.approx(position, abs=1e-9 * sum(f.quantity for f in fills[:n]))
        assert portfolio.fees_paid == pytest.approx(fees, abs=tolerance)
        assert portfolio.fill_count == n

        equity = portfolio.mark(mark_price)
        assert equity == portfolio.equity == pytest.approx(
            portfolio.cash + portfolio.quantity * mark_price, abs=tolerance * mark_price)
        # Average-cost accounting: what the ledger is worth is the capital plus every PnL, less fees.
        assert equity == pytest.approx(
            CAPITAL + portfolio.realized_pnl + portfolio.unrealized_pnl - portfolio.fees_paid,
            abs=tolerance * max(1.0, mark_price))
        assert portfolio.trade_count == len(portfolio.trades)
        assert portfolio.winning_trades == sum(t.pnl > 0 for t in portfolio.trades)

    if portfolio.is_flat:
        # Every fill belongs to a closed round trip: their net PnLs and fees sum to the ledger's.
        tolerance = 1e-9 * scale(fills)
        assert sum(t.fees for t in portfolio.trades) == pytest.approx(portfolio.fees_paid, abs=tolerance)
        assert sum(t.pnl for t in portfolio.trades) == pytest.approx(
            portfolio.realized_pnl - portfolio.fees_paid, abs=tolerance)
        assert portfolio.cash == pytest.approx(CAPITAL + sum(t.pnl for t in portfolio.trades), abs=tolerance)


@BOUNDED
@given(fills=fill_sequences(), mark_price=prices)
def test_replaying_the_fills_from_empty_gives_the_same_state(fills, mark_price):
    live = Portfolio(SYMBOL, CAPITAL)
    for fill in fills:
        live.apply_fill(fill)
    live.mark(mark_price)

    replayed = Portfolio.replay(SYMBOL, CAPITAL, fills)
    replayed.mark(mark_price)

    assert replayed.snapshot() == live.snapshot()
    assert replayed.trades == live.trades


@BOUNDED
@given(fills=fill_sequences(), data=st.data())
def test_a_snapshot_restored_midway_then_the_rest_of_the_fills_gives_the_same_state(fills, data):
    cut = data.draw(st.integers(min_value=0, max_value=len(fills)), label="cut")
    whole = Portfolio.replay(SYMBOL, CAPITAL, fills)

    first_part = Portfolio.replay(SYMBOL, CAPITAL, fills[:cut])
    saved = json.loads(json.dumps(first_part.snapshot(), allow_nan=False))   # as the snapshot file holds it
    restored = Portfolio.restore(saved)
    assert restored.snapshot() == first_part.snapshot()
    for fill in fills[cut:]:
        restored.apply_fill(fill)

    assert restored.snapshot() == whole.snapshot()
    for value in whole.snapshot().values():
        assert not isinstance(value, float) or math.isfinite(value)
