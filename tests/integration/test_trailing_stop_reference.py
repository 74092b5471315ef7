"""Sim's trailing stop against an independent plain-Python loop on the real BTC candles.

A bot that enters long on an SMA cross and leaves only by its trailing stop. The entries are
placed on `SimExecution` from a loop of the test's own (the risk engine's setting for a trailing
stop is not there yet), and the same entries are replayed by a reference that knows nothing of
the project's parts. Its rules, written out:

- fast[t], slow[t]: the exact mean of the last n closes; a cross up at close t is
  fast[t] > slow[t] and fast[t-1] <= slow[t-1]; while flat, it buys at the open of t+1, the
  price moved up by the slippage;
- H starts at that entry price; the stop's level is H * (1 - pct) (or H - distance, the
  distance being a multiple of the 14-candle average true range at the entry decision);
- on every candle from the entry's on: if low <= level, sell at min(open, level) moved down by
  the slippage, and the trade is over; else H = max(H, high) and the level follows it.

Exit candle and price equal for every trade, to the last bit.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from execution.models import Order, OrderType, Side
from execution.sim import SimExecution
from market.files import load_candles

FAST, SLOW, PCT, ATR_N, ATR_MULTIPLE, SLIPPAGE_BPS, STAKE = 10, 30, 0.01, 14, 3.0, 5.0, 1_000.0


def cross_ups(candles) -> list[bool]:
    """Whether the close of each candle is a cross up of the fast mean over the slow one."""
    prefix = [Fraction(0)]
    for candle in candles:
        prefix.append(prefix[-1] + Fraction(candle.close))

    def sma(t, n):
        return (prefix[t + 1] - prefix[t + 1 - n]) / n

    return [t >= SLOW and sma(t, FAST) > sma(t, SLOW) and sma(t - 1, FAST) <= sma(t - 1, SLOW)
            for t in range(len(candles))]


def atr_distances(candles) -> list[float | None]:
    """ATR_MULTIPLE times the mean true range of the last ATR_N candles, at each close."""
    true_ranges = [c.high - c.low if t == 0 else
                   max(c.high, candles[t - 1].close) - min(c.low, candles[t - 1].close)
                   for t, c in enumerate(candles)]
    return [None if t < ATR_N else ATR_MULTIPLE * sum(true_ranges[t + 1 - ATR_N:t + 1]) / ATR_N
            for t in range(len(candles))]


def reference_trades(candles, signals, stops):
    """(entry index, entry price, exit index, exit price) of each trade; `stops[t]` is the
    ("pct" | "distance", value) of an entry decided at the close of t."""
    slip = SLIPPAGE_BPS / 10_000
    trades, pending, position = [], None, None
    for t, candle in enumerate(candles):
        if pending is not None:
            price = candle.open * (1 + slip)
            position = {"entry": (t, price), "high": price, "stop": pending}
            pending = None
        if position is not None:
            kind, value = position["stop"]
            level = position["high"] * (1 - value) if kind == "pct" else position["high"] - value
            if candle.low <= level:
                trades.append((*position["entry"], t, min(candle.open, level) * (1 - slip)))
                position = None
            else:
                position["high"] = max(position["high"], candle.high)
        if position is None and signals[t] and t + 1 < len(candles):
            pending = stops[t]
    return trades


def sim_trades(candles, signals, stops):
    """The same bot on `SimExecution`: entries placed by this loop, exits by the engine."""
    index_of = {c.ts_ms: t for t, c in enumerate(candles)}

    async def run():
        sim = SimExecution(fee_rate=0.001, slippage_bps=SLIPPAGE_BPS)
        trades, entry, long = [], None, False
        for t, candle in enumerate(candles):
            for fill in await sim.on_candle(candle):
                if fill.side is Side.BUY:
                    entry, long = (index_of[fill.ts_ms], fill.price), True
                else:
                    assert (fill.reason, fill.client_order_id) == ("trailing_stop", f"{trades_id(len(trades))}-ts")
                    trades.append((*entry, index_of[fill.ts_ms], fill.price))
                    long = False
            if not long and not sim.open_orders() and signals[t] and t + 1 < len(candles):
                kind, value = stops[t]
                await sim.execute_signal(Order(
                    trades_id(len(trades)), "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=STAKE,
                    trailing_stop_pct=value if kind == "pct" else None,
                    trailing_stop_distance=value if kind == "distance" else None))
        return trades

    return asyncio.run(run())


def trades_id(n: int) -> str:
    return f"e{n}"


@pytest.fixture(scope="module")
def btc(shared_data):
    candles = load_candles(shared_data / "BTC_USD-1m-2022-01.csv").candles
    return candles, cross_ups(candles)


def assert_same_exits(candles, signals, stops):
    expected = reference_trades(candles, signals, stops)
    actual = sim_trades(candles, signals, stops)
    assert len(expected) > 20, "the data should make the bot trade"
    assert actual == expected          # same entry and exit candles, same prices, bit for bit


def test_a_percentage_trailing_stop_exits_where_the_reference_loop_does(btc):
    candles, signals = btc
    assert_same_exits(candles, signals, [("pct", PCT)] * len(candles))


def test_an_atr_distance_trailing_stop_exits_where_the_reference_loop_does(btc):
    candles, signals = btc
    stops = [None if d is None else ("distance", d) for d in atr_distances(candles)]
    signals = [s and stops[t] is not None for t, s in enumerate(signals)]
    assert_same_exits(candles, signals, stops)


def test_the_trailing_stop_trails(btc):
    # Not a stop-loss in disguise: most exits are above where a fixed stop at PCT would sit.
    candles, signals = btc
    trades = reference_trades(candles, signals, [("pct", PCT)] * len(candles))
    trailed = [t for t in trades if t[3] > t[1] * (1 - PCT) * (1 - SLIPPAGE_BPS / 10_000)]
    assert len(trailed) > len(trades) / 2
