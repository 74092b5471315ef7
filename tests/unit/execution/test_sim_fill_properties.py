"""Properties of the sim fill model over random candles and orders (Hypothesis): every fill is a
finite, positive trade at a price the candle after the order reached, with the fee on its
notional; each order fills at most once, a bracket's legs at most one; and the ledger that
books the fills balances."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.models import Fill, Order, OrderType, Side
from execution.sim import SimExecution
from market.models import Candle
from portfolio.portfolio import Portfolio

SYMBOL, BAR_MS, CAPITAL = "BTC/USD", 60_000, 10_000.0

moves = st.floats(min_value=-0.05, max_value=0.05)
wicks = st.floats(min_value=0.0, max_value=0.03)
levels = st.floats(min_value=-0.04, max_value=0.04)        # an order's price off the last close
percents = st.one_of(st.none(), st.floats(min_value=0.001, max_value=0.05), st.floats(min_value=0.001, max_value=0.01))


@st.composite
def candle_paths(draw) -> list[Candle]:
    """Consistent candles (low <= open, close <= high; prices > 0), gaps between them allowed."""
    candles, close = [], draw(st.floats(min_value=1.0, max_value=50_000))
    for i in range(draw(st.integers(min_value=2, max_value=25))):
        open_ = close * (1 + draw(moves) / 5)             # a small gap from the last close
        close = open_ * (1 + draw(moves))
        high = max(open_, close) * (1 + draw(wicks))
        low = min(open_, close) * (1 - draw(wicks))
        candles.append(Candle(1_704_067_200_000 + i * BAR_MS, open_, high, low, close, 1.0))
    return candles


@dataclass(frozen=True)
class Plan:
    """What to send after a candle closes: an order type, side, size and level."""

    kind: str
    side: Side
    size: float
    level: float
    stop_loss_pct: float | None
    take_profit_pct: float | None


plans = st.one_of(st.none(), st.builds(
    Plan, st.sampled_from(["market", "limit", "stop"]), st.sampled_from(Side),
    st.floats(min_value=0.001, max_value=0.5), levels, percents, percents))


def order_for(plan: Plan, n: int, last: Candle) -> Order:
    if plan.kind == "market" and plan.side is Side.BUY:      # entries spend cash, brackets attached
        return Order(f"o{n}", SYMBOL, Side.BUY, quote_amount=plan.size * CAPITAL, created_ts_ms=last.ts_ms,
                     stop_loss_pct=plan.stop_loss_pct, take_profit_pct=plan.take_profit_pct)
    quantity = plan.size * CAPITAL / last.close
    if plan.kind == "market":
        return Order(f"o{n}", SYMBOL, Side.SELL, quantity=quantity, created_ts_ms=last.ts_ms)
    level = last.close * (1 + plan.level)
    if plan.kind == "limit":
        return Order(f"o{n}", SYMBOL, plan.side, OrderType.LIMIT, quantity=quantity, price=level,
                     created_ts_ms=last.ts_ms)
    return Order(f"o{n}", SYMBOL, plan.side, OrderType.STOP, quantity=quantity, stop_price=level,
                 created_ts_ms=last.ts_ms)


async def run(engine: SimExecution, candles: list[Candle], order_plans: list[Plan | None]) -> tuple[
        dict[str, Order], list[tuple[Candle, Fill]]]:
    """After each candle but the last, send the planned order; each later candle fills what it reaches."""
    sent: dict[str, Order] = {}
    fills: list[tuple[Candle, Fill]] = []
    for n, candle in enumerate(candles):
        for fill in await engine.on_candle(candle):
            fills.append((candle, fill))
            sent.update({leg.client_order_id: leg for leg in bracket_legs(sent[fill.client_order_id], fill)})
        for order in engine.open_orders():
            assert not reached(order, candle), f"{order} rests although {candle} reached it"
        plan = order_plans[n % len(order_plans)]
        if plan is not None and n < len(candles) - 1:
            order = order_for(plan, n, candle)
            sent[order.client_order_id] = order
            assert await engine.execute_signal(order) == []             # nothing fills at decision time
        for order in engine.open_orders():
            assert sent[order.client_order_id] == order                  # resting as sent, or as derived
    return sent, fills


def reached(order: Order, candle: Candle) -> bool:
    if order.type is OrderType.MARKET:
        return True
    if order.type is OrderType.LIMIT:
        return candle.low <= order.price if order.side is Side.BUY else candle.high >= order.price
    return candle.high >= order.stop_price if order.side is Side.BUY else candle.low <= order.stop_price


def bracket_legs(entry: Order, fill: Fill) -> list[Order]:
    """The stop and take-profit an entry's fill rests, from `execution.models.Order`'s docstring."""
    group, legs = entry.client_order_id, []
    if entry.stop_loss_pct is not None:
        legs.append(Order(f"{group}-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=fill.quantity,
                          stop_price=fill.price * (1 - entry.stop_loss_pct), reason="stop_loss",
                          created_ts_ms=fill.ts_ms, oco_group=group))
    if entry.take_profit_pct is not None:
        legs.append(Order(f"{group}-tp", SYMBOL, Side.SELL, OrderType.LIMIT, quantity=fill.quantity,
                          price=fill.price * (1 + entry.take_profit_pct), reason="take_profit",
                          created_ts_ms=fill.ts_ms, oco_group=group))
    return legs


def expected_price(order: Order, candle: Candle, slippage: float) -> float:
    """Sim's rule for `order` at `candle`, written out from the module docstring."""
    if order.type is OrderType.MARKET:
        base = candle.open
    elif order.type is OrderType.LIMIT:                  # at the price, or a better open
        return min(candle.open, order.price) if order.side is Side.BUY else max(candle.open, order.price)
    else:                                                # at the stop, or a worse open
        base = max(candle.open, order.stop_price) if order.side is Side.BUY else min(candle.open, order.stop_price)
    return base * (1 + slippage) if order.side is Side.BUY else base * (1 - slippage)


@settings(max_examples=300, deadline=None)
@given(candles=candle_paths(), order_plans=st.lists(plans, min_size=1, max_size=6),
       fee_rate=st.floats(min_value=0.0, max_value=0.01), slippage_bps=st.floats(min_value=0.0, max_value=50))
def test_every_fill_is_a_finite_positive_trade_the_candle_after_the_order_reached(candles, order_plans, fee_rate,
                                                                                    slippage_bps):
    engine = SimExecution(fee_rate=fee_rate, slippage_bps=slippage_bps)
    sent, fills = asyncio.run(run(engine, candles, order_plans))

    filled_ids = [fill.client_order_id for _, fill in fills]
    assert len(filled_ids) == len(set(filled_ids)), "an order filled twice"
    entry_fills = {fill.client_order_id: fill for _, fill in fills}
    for candle, fill in fills:
        order = sent[fill.client_order_id]
        assert all(math.isfinite(v) and v > 0 for v in (fill.price, fill.quantity)), fill
        assert math.isfinite(fill.fee) and fill.fee >= 0
        assert fill.fee == pytest.approx(fee_rate * fill.quantity * fill.price, rel=1e-9, abs=1e-12)
        assert fill.ts_ms == candle.ts_ms
        if order.oco_group is None:
            assert fill.ts_ms > order.created_ts_ms, "filled on the candle it was decided on"
        assert (fill.side, fill.reason) == (order.side, order.reason)
        assert fill.price == pytest.approx(expected_price(order, candle, slippage_bps / 10_000), rel=1e-12)
        assert reached(order, candle)
        if order.quote_amount is not None:
            assert fill.quantity * fill.price == pytest.approx(order.quote_amount, rel=1e-12)
        else:
            assert fill.quantity == pytest.approx(order.quantity, rel=1e-12)
        if order.oco_group is not None:                  # a bracket leg: from the entry's fill on
            assert fill.ts_ms >= entry_fills[order.oco_group].ts_ms
            stop = sent.get(f"{order.oco_group}-sl")
            if order.reason == "take_profit" and stop is not None:
                assert not reached(stop, candle), "a candle reaching both legs filled the target, not the stop"

    groups = [sent[i].oco_group for i in filled_ids if sent[i].oco_group is not None]
    assert len(groups) == len(set(groups)), "both legs of a bracket filled"
    still_open = {o.client_order_id for o in engine.open_orders()}
    assert not still_open & set(filled_ids)
    assert not {o.oco_group for o in engine.open_orders()} & set(groups), "a filled bracket's other leg rests"

    ledger = Portfolio.replay(SYMBOL, CAPITAL, [fill for _, fill in fills])
    equity = ledger.mark(candles[-1].close)
    assert math.isfinite(equity)
    assert ledger.fees_paid == pytest.approx(sum(f.fee for _, f in fills), rel=1e-9, abs=1e-9)


bad_prices = st.sampled_from([math.nan, 0.0, -1.0, math.inf, -math.inf])


@st.composite
def paths_with_bad_candles(draw) -> tuple[list[Candle], set[int]]:
    """A candle path in which some candles carry a price no market trades at (NaN, 0, below
    0, infinite) in their open, high or low; and the indices of those candles."""
    candles = draw(candle_paths())
    bad = set(draw(st.lists(st.integers(min_value=0, max_value=len(candles) - 1), max_size=len(candles))))
    for i in bad:
        field = draw(st.sampled_from(["open", "high", "low"]))
        candles[i] = candles[i]._replace(**{field: draw(bad_prices)})
    return candles, bad


@settings(max_examples=200, deadline=None)
@given(path=paths_with_bad_candles(), order_plans=st.lists(plans, min_size=1, max_size=6))
def test_no_fill_comes_from_a_nan_or_non_positive_price(path, order_plans):
    candles, bad = path
    engine = SimExecution(fee_rate=0.001, slippage_bps=5)

    async def run_through() -> list[tuple[int, Fill]]:
        fills = []
        for n, candle in enumerate(candles):
            fills.extend((n, fill) for fill in await engine.on_candle(candle))
            plan = order_plans[n % len(order_plans)]
            if plan is not None and n not in bad and n < len(candles) - 1 and not engine.open_orders():
                await engine.execute_signal(order_for(plan, n, candle))
        return fills

    fills = asyncio.run(run_through())
    for n, fill in fills:
        assert n not in bad, f"filled on candle {n}, which no market could trade on: {candles[n]}"
        assert all(math.isfinite(v) and v > 0 for v in (fill.price, fill.quantity)), fill
        assert math.isfinite(fill.fee) and fill.fee >= 0
    # Bad candles carry their bad price in the open, high or low; closes stay good to mark at.
    assert math.isfinite(Portfolio.replay(SYMBOL, CAPITAL, [f for _, f in fills]).mark(candles[-1].close))
