"""The runner against an independent plain-Python loop: same trades, to the candle and the cent.

The reference knows nothing of the project's parts. Its rules, written out:
- fast[t], slow[t]: the exact mean of the last n closes (Fractions, rounded once to float);
- cross up at close t: fast[t] > slow[t] and fast[t-1] <= slow[t-1]; cross down mirrored;
- a cross up while flat buys at the open of t+1, spending 0.99 of cash, fee 0.1% on top;
- a cross down while long sells everything at the open of t+1, fee 0.1% of the proceeds.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from market.files import load_candles
from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig

FAST, SLOW, STAKE, FEE, CAPITAL = 10, 30, 0.99, 0.001, 100_000.0


def reference_trades(candles):
    closes = [c.close for c in candles]
    prefix = [Fraction(0)]
    for close in closes:
        prefix.append(prefix[-1] + Fraction(close))

    def sma(t, n):
        return float((prefix[t + 1] - prefix[t + 1 - n]) / n)

    cash, qty, pending, entry = CAPITAL, 0.0, None, None
    trades = []
    for t, candle in enumerate(candles):
        if pending == "buy":
            spend = cash * STAKE
            qty = spend / candle.open
            cash -= spend + spend * FEE
            entry = (candle.ts_ms, candle.open, spend * FEE)
        elif pending == "sell":
            proceeds = qty * candle.open
            cash += proceeds - proceeds * FEE
            entry_ts, entry_price, entry_fee = entry
            pnl = qty * (candle.open - entry_price) - entry_fee - proceeds * FEE
            trades.append((entry_ts, candle.ts_ms, entry_price, candle.open, qty, pnl))
            qty = 0.0
        pending = None
        if t >= SLOW:
            f1, s1, f0, s0 = sma(t, FAST), sma(t, SLOW), sma(t - 1, FAST), sma(t - 1, SLOW)
            if f1 > s1 and f0 <= s0 and qty == 0.0:
                pending = "buy"
            elif f1 < s1 and f0 >= s0 and qty > 0.0:
                pending = "sell"
    return trades, cash, qty


def runner_trades(candles):
    config = BotConfig.model_validate({
        "id": "reference", "symbol": "BTC/USD", "timeframe": "1m", "capital": CAPITAL,
        "strategy": {"name": "sma_cross", "params": {"fast": FAST, "slow": SLOW}},
        "risk": {"stake_pct": STAKE}, "execution": {"fee_rate": FEE, "slippage_bps": 0},
    })
    runner = sim_runner(config, candles)
    asyncio.run(runner.run())
    trades = [(t.entry_ts_ms, t.exit_ts_ms, t.entry_price, t.exit_price, t.quantity, t.pnl)
              for t in runner.portfolio.trades]
    return trades, runner.portfolio.cash, runner.portfolio.quantity


def assert_same_trades(candles):
    expected, expected_cash, expected_qty = reference_trades(candles)
    actual, cash, qty = runner_trades(candles)
    assert len(expected) > 20, "the data should make the strategy trade"
    assert [t[:2] for t in actual] == [t[:2] for t in expected]       # same candles, in and out
    for got, want in zip(actual, expected):
        assert got[2:] == pytest.approx(want[2:], rel=1e-9)
    assert cash == pytest.approx(expected_cash, rel=1e-9)
    assert qty == pytest.approx(expected_qty, rel=1e-9)


def test_sma_cross_matches_the_reference_loop_on_generated_data():
    assert_same_trades(generate_candles(count=20_000, seed=1234, start_price=30_000.0))


def test_sma_cross_matches_the_reference_loop_on_real_btc_candles(shared_data):
    assert_same_trades(load_candles(shared_data / "BTC_USD-1m-2022-01.csv").candles)
