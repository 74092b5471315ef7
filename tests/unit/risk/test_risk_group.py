"""Limits across bots: checked and reserved before an entry leaves, so two bots deciding on the
same candle cannot both pass a limit only one of them fits, whichever runs first."""

from __future__ import annotations

import asyncio

import pytest

from execution.models import Fill, Side
from execution.sim import SimExecution
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from risk.group import RiskGroup, RiskGroupLimits
from runner.bot.strategy_runner import StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.runner.test_strategy_runner import candles_from


def long_portfolio(qty: float, price: float, capital: float = 1_000.0) -> Portfolio:
    p = Portfolio("BTC/USD", capital)
    p.apply_fill(Fill("o", "BTC/USD", Side.BUY, qty, price, 0.0, 0))
    p.mark(price)
    return p


def test_an_entry_that_fits_every_limit_takes_its_room_until_released():
    group = RiskGroup("g", RiskGroupLimits(max_gross_exposure_pct=0.5))
    group.join("a", "BTC/USD", Portfolio("BTC/USD", 1_000.0))
    group.join("b", "BTC/USD", Portfolio("BTC/USD", 1_000.0))

    assert group.reserve("a", "a-1", "BTC/USD", 600.0, 60_000) is None       # 600 of 2,000 equity
    assert group.reserve("b", "b-1", "BTC/USD", 400.0, 60_000) is None       # exactly 50%: fits
    refusal = group.reserve("b", "b-2", "BTC/USD", 0.01, 60_000)
    assert refusal is not None and "gross exposure" in refusal and group.refusals == 1
    group.release({"a-1"})
    assert group.reserve("b", "b-2", "BTC/USD", 0.01, 60_000) is None


def test_exposure_counts_positions_at_their_last_price_per_symbol():
    group = RiskGroup("g", RiskGroupLimits(max_symbol_exposure_pct=0.3))
    group.join("a", "BTC/USD", long_portfolio(2.0, 100.0))                  # 200 held, equity 1,000
    group.join("b", "ETH/USD", Portfolio("ETH/USD", 1_000.0))
    assert group.reserve("b", "b-1", "ETH/USD", 600.0, 1) is None            # ETH: 600 of 2,000
    assert "BTC/USD exposure" in group.reserve("a", "a-2", "BTC/USD", 400.01, 1)
    assert group.reserve("a", "a-2", "BTC/USD", 400.0, 1) is None            # exactly 30%


def test_open_positions_and_entries_per_candle_are_limited():
    group = RiskGroup("g", RiskGroupLimits(max_open_positions=2, max_entries_per_candle=1))
    for bot in ("a", "b", "c"):
        group.join(bot, "BTC/USD", Portfolio("BTC/USD", 1_000.0))
    assert group.reserve("a", "a-1", "BTC/USD", 10.0, 60_000) is None
    assert "entries already left on this candle" in group.reserve("b", "b-1", "BTC/USD", 10.0, 60_000)
    assert group.reserve("b", "b-1", "BTC/USD", 10.0, 120_000) is None       # the next candle
    assert "hold or enter positions" in group.reserve("c", "c-1", "BTC/USD", 10.0, 180_000)


@pytest.mark.parametrize("first", ["a", "b"])
async def test_of_two_bots_entering_on_one_candle_exactly_one_passes_whichever_runs_first(first):
    # Each entry spends half its bot's 1,000: 500 of the group's 2,000 fits under 40%, 1,000 does not.
    group = RiskGroup("g", RiskGroupLimits(max_gross_exposure_pct=0.4))
    bots = {}
    for bot_id in ("a", "b"):
        feed = QueuedFeed()
        runner = StrategyRunner(bot_id, feed=feed, strategy=Scripted({0: GO_LONG}), execution=SimExecution(),
                                risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5)),
                                portfolio=Portfolio("BTC/USD", 1_000.0), journal=MemoryJournal(), risk_group=group)
        bots[bot_id] = (runner, feed, asyncio.create_task(runner.run()))
    await eventually(lambda: all(r.state.value == "running" for r, _, _ in bots.values()))
    candles = candles_from([100.0, 101.0])
    second = "b" if first == "a" else "a"
    for bot_id in (first, second):                    # the event loop runs `first`'s step first
        bots[bot_id][1].queue.put_nowait(candles[0])
        await eventually(lambda: bots[bot_id][0].bars == 1)

    assert [b for b in (first, second) if bots[b][0].orders] == [first]
    [risk] = bots[second][0].journal.of_kind("risk")
    assert risk.data["rule"] == "risk_group:g" and risk.data["verdict"] == "reject"
    for runner, feed, task in bots.values():
        await feed.aclose()
        await task


def test_a_group_var_limit_refuses_entries_while_the_groups_equity_swings_too_much():
    from risk.var import historical_var_es

    group = RiskGroup("g", RiskGroupLimits(var={"window": 4, "confidence": 0.95, "limit_pct": 0.02}))
    a, b = Portfolio("BTC/USD", 1_000.0), Portfolio("BTC/USD", 1_000.0)
    group.join("a", "BTC/USD", a)
    group.join("b", "BTC/USD", b)
    equities = [2_000.0, 1_900.0, 2_000.0, 1_900.0, 2_000.0]
    for i, equity in enumerate(equities):
        a.cash = equity / 2
        b.cash = equity / 2
        group.observe(i * 60_000)
        group.observe(i * 60_000)                # the second member at the same candle adds nothing
    returns = [equities[i + 1] / equities[i] - 1 for i in range(4)]
    var, es = historical_var_es(returns, 0.95)
    assert group.figures()["var"] == pytest.approx(var) and var > 0.02
    assert "VaR" in group.reserve("a", "a-1", "BTC/USD", 10.0, 5 * 60_000)
