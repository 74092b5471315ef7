"""`rsi_reversion` with `entry: limit`: the same decisions as with market entries, the entries
asked for as limit orders under the close; and a backtest on it fills, and expires, some."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from execution.sim import SimExecution
from market.models import Candle
from market.replay import ReplayProvider
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.strategy_runner import StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.rsi_reversion import RsiReversion
from strategies.signal import GO_FLAT, Direction, LimitSignal


def test_limit_entries_come_on_the_market_entries_candles_under_the_close_and_exits_stay_market(drive, closes):
    market = drive(RsiReversion(RsiReversion.Params()), closes)
    limit = drive(RsiReversion(RsiReversion.Params(entry="limit", limit_offset_pct=0.01, expire_after=4)), closes)
    entries = [i for i, s in enumerate(market) if s is not None and s.direction is Direction.LONG]
    assert len(entries) > 5
    assert [i for i, s in enumerate(limit) if isinstance(s, LimitSignal)] == entries
    for i in entries:
        assert limit[i].price == pytest.approx(closes[i] * 0.99) and limit[i].expire_after == 4
    assert [s for s in limit if s is not None and s.direction is Direction.FLAT] == \
        [s for s in market if s is not None and s.direction is Direction.FLAT]
    assert all(s is GO_FLAT for s in limit if s is not None and s.direction is Direction.FLAT)


def test_a_good_till_cancelled_limit_entry_is_asked_with_expire_after_null():
    assert RsiReversion.Params(entry="limit", expire_after=None).expire_after is None


@pytest.mark.parametrize("params, message", [
    ({"expire_after": 3}, "expire_after applies to limit entries only; add entry: limit"),
    ({"limit_offset_pct": 0.01, "expire_after": 3}, "limit_offset_pct and expire_after apply to limit entries only"),
    ({"entry": "limit", "limit_offset_pct": 0.5}, "limit_offset_pct"),
    ({"entry": "limit", "expire_after": 0}, "expire_after"),
    ({"entry": "stop"}, "entry"),
])
def test_bad_limit_entry_settings_are_refused_by_name(params, message):
    with pytest.raises(ValidationError, match=message):
        RsiReversion.Params(**params)


async def test_a_backtest_with_limit_entries_fills_some_and_expires_others_never_above_the_limit(closes):
    candles, before = [], closes[0]
    for i, close in enumerate(closes):       # each opens at the close before it
        candles.append(Candle(i * 60_000, before, max(before, close), min(before, close), close, 1.0))
        before = close
    journal = MemoryJournal()
    runner = StrategyRunner(
        "rsi-limit", feed=ReplayProvider("BTC/USD", "1m", candles, batch_size=500),
        strategy=RsiReversion(RsiReversion.Params(entry="limit", limit_offset_pct=0.002, expire_after=3)),
        risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5)), execution=SimExecution(fee_rate=0.001),
        portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal, order_id_prefix="rsi-limit-")
    await runner.run()
    entries = [e for e in journal.of_kind("order") if e.data["side"] == "buy"]
    assert entries and all(e.data["type"] == "limit" for e in entries)
    filled = {e.key for e in journal.of_kind("fill")}
    expired = {e.key for e in journal.of_kind("cancel") if e.data["why"] == "expired"}
    assert filled & {e.key for e in entries} and expired                  # both happen on a random walk
    assert not filled & expired
    for entry in entries:
        if entry.key in filled:
            [fill] = [f for f in journal.of_kind("fill") if f.key == entry.key]
            assert fill.data["price"] <= entry.data["price"]              # never above the limit
