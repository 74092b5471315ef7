"""Each protection on the real BTC candles, against an independent plain-Python loop.

A sim bot on `sma_cross` (10, 30) with a 0.5% stop-loss and one protection, run through the
real pipeline, makes the same trades and has the same entries refused as a reference that
knows nothing of the project's parts. Its rules, written out:

- a cross up at close t (fast[t] > slow[t], fast[t-1] <= slow[t-1], exact means) while flat
  buys at the open of t+1 moved up by the slippage, spending 0.99 of cash, fee 0.1% on top;
  a cross down while long sells everything at the open of t+1 moved down by the slippage;
- the stop rests at entry * (1 - 0.005) from the entry's candle on (that candle included); a
  candle whose low reaches it sells at min(open, stop) moved down by the slippage;
- in each candle: the fill at its open, then the stop, then equity = cash + qty * close, then
  the protection looks at the close, then the strategy's decision;
- a pause "until u" refuses the entries decided at the closes t < u; exits are never refused:
  - cooldown_after_stop N: a stop filled in candle t pauses until t + N;
  - losing_streak K, M: a round trip losing (sell proceeds after fees below the buy's cost,
    fees included) in candle t adds one to the streak, any other ends it; the K-th in a row
    pauses until t + M and the streak starts again from zero;
  - lookback_drawdown W, P, Q: at the close of t, when not paused, an equity at or below
    (1 - P) times the highest of the last W closes (t included) pauses until t + Q.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from market.files import load_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig

FAST, SLOW, STOP, STAKE, FEE, SLIPPAGE_BPS, CAPITAL = 10, 30, 0.005, 0.99, 0.001, 2.0, 100_000.0
MINUTE_MS = 60_000

PROTECTIONS = {
    "cooldown_after_stop": {"cooldown_after_stop_candles": 30},
    "losing_streak": {"max_losing_streak": 3, "streak_pause_candles": 120},
    "lookback_drawdown": {"lookback_drawdown": {"window_candles": 240, "max_pct": 0.01, "pause_candles": 60}},
}


def crosses(candles) -> list[int]:
    """+1 for a cross up of the fast mean over the slow one at each close, -1 down, 0 none."""
    prefix = [Fraction(0)]
    for candle in candles:
        prefix.append(prefix[-1] + Fraction(candle.close))

    def sma(t, n):
        return (prefix[t + 1] - prefix[t + 1 - n]) / n

    def cross(t):
        if t < SLOW:
            return 0
        f1, s1, f0, s0 = sma(t, FAST), sma(t, SLOW), sma(t - 1, FAST), sma(t - 1, SLOW)
        return 1 if f1 > s1 and f0 <= s0 else -1 if f1 < s1 and f0 >= s0 else 0

    return [cross(t) for t in range(len(candles))]


def reference(candles, signals, protection):
    """(trades, refused): trades as (entry ts, exit ts, entry price, exit price, stopped);
    refused as the indexes of the candles whose entry the protection refused."""
    slip = SLIPPAGE_BPS / 10_000
    cooldown = protection.get("cooldown_after_stop_candles")
    max_streak, streak_pause = protection.get("max_losing_streak"), protection.get("streak_pause_candles")
    lookback = protection.get("lookback_drawdown")
    cash, qty, pending, entry, until, streak = CAPITAL, 0.0, None, None, 0, 0
    equities, trades, refused = [], [], []
    for t, candle in enumerate(candles):
        exit_price, stopped = None, False
        if pending == "buy":
            price = candle.open * (1 + slip)
            spend = cash * STAKE
            qty = spend / price
            cash -= qty * price + spend * FEE
            entry = (candle.ts_ms, price, price * (1 - STOP), qty * price + spend * FEE)
        elif pending == "sell":
            exit_price = candle.open * (1 - slip)
        pending = None
        if qty > 0.0 and exit_price is None and candle.low <= entry[2]:
            exit_price, stopped = min(candle.open, entry[2]) * (1 - slip), True
        if exit_price is not None:
            proceeds = qty * exit_price
            cash += proceeds - proceeds * FEE
            trades.append((entry[0], candle.ts_ms, entry[1], exit_price, stopped))
            if cooldown and stopped:
                until = max(until, t + cooldown)
            if max_streak:
                streak = streak + 1 if proceeds - proceeds * FEE < entry[3] else 0
                if streak == max_streak:
                    streak, until = 0, max(until, t + streak_pause)
            qty = 0.0
        equities.append(cash + qty * candle.close)
        if lookback and t >= until:
            peak = max(equities[-lookback["window_candles"]:])
            if equities[-1] <= peak * (1 - lookback["max_pct"]):
                until = t + lookback["pause_candles"]
        if signals[t] == 1 and qty == 0.0:
            if t < until:
                refused.append(t)
            else:
                pending = "buy"
        elif signals[t] == -1 and qty > 0.0:
            pending = "sell"
    return trades, refused


def runner_run(candles, protection):
    config = BotConfig.model_validate({
        "id": "protected", "symbol": "BTC/USD", "timeframe": "1m", "capital": CAPITAL,
        "strategy": {"name": "sma_cross", "params": {"fast": FAST, "slow": SLOW}},
        "risk": {"stake_pct": STAKE, "stop_loss_pct": STOP, "protections": protection},
        "execution": {"fee_rate": FEE, "slippage_bps": SLIPPAGE_BPS},
    })
    runner = sim_runner(config, candles)
    asyncio.run(runner.run())
    trades = [(t.entry_ts_ms, t.exit_ts_ms, t.entry_price, t.exit_price, t.exit_reason == "stop_loss")
              for t in runner.portfolio.trades]
    return trades, runner.journal.of_kind("risk")


@pytest.fixture(scope="module")
def btc(shared_data):
    candles = load_candles(shared_data / "BTC_USD-1m-2022-01.csv").candles
    return candles, crosses(candles)


@pytest.fixture(scope="module", params=list(PROTECTIONS))
def protected(request, btc):
    """(name, candles, expected trades, refused indexes, runner's trades, its risk events)."""
    candles, signals = btc
    name = request.param
    expected, refused = reference(candles, signals, PROTECTIONS[name])
    actual, risk_events = runner_run(candles, PROTECTIONS[name])
    return name, candles, expected, refused, actual, risk_events


def test_a_protected_bot_trades_and_is_refused_where_the_reference_loop_is(protected):
    _, _, expected, refused, actual, _ = protected
    assert len(expected) > 20, "the data should make the bot trade"
    assert sum(stopped for *_, stopped in expected) > 10, "the stop should close trades"
    assert len(refused) >= 5, "the protection should refuse entries on this data"
    assert [(t[0], t[1], t[4]) for t in actual] == [(t[0], t[1], t[4]) for t in expected]
    for got, want in zip(actual, expected):    # a trade's exit price is the ledger's average
        assert got[2:4] == pytest.approx(want[2:4], rel=1e-12)


def test_every_entry_a_protection_refuses_is_journalled_as_its_risk_event(protected):
    name, candles, _, refused, _, risk_events = protected
    assert [(e.ts_ms, e.bar, e.data["rule"], e.data["verdict"]) for e in risk_events] == [
        (candles[t].ts_ms + MINUTE_MS, t, name, "reject") for t in refused]

