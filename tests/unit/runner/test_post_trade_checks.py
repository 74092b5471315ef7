"""Post-trade checks: a fill far from the close it was decided on is an alert (and, configured,
stops the bot); a position that is not the sum of the bot's fills stops it for a person."""

from __future__ import annotations

import pytest

from execution.sim import SimExecution
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.risk_checks import PositionInvariantBroken
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_FLAT, GO_LONG
from tests.fakes import Scripted
from tests.unit.runner.test_strategy_runner import candles_from
from market.replay import ReplayProvider


def runner(risk: RiskConfig, *, slippage_bps: float = 0.0, portfolio: Portfolio | None = None) -> StrategyRunner:
    candles = candles_from([100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    return StrategyRunner("bot-p", feed=ReplayProvider("BTC/USD", "1m", candles),
                          strategy=Scripted({0: GO_LONG, 3: GO_FLAT}),
                          risk=RuleRiskEngine.from_config(risk), execution=SimExecution(slippage_bps=slippage_bps),
                          portfolio=portfolio or Portfolio("BTC/USD", 1_000.0), journal=MemoryJournal())


async def test_a_fill_further_than_the_limit_from_its_decision_close_is_an_alert_in_the_journal():
    bot = runner(RiskConfig(max_fill_deviation_pct=0.01), slippage_bps=200)        # fills 2% off
    assert await bot.run() is RunnerState.FINISHED                                  # an alert, not a stop
    alerts = [e.data for e in bot.journal.of_kind("risk")]
    assert [(a["rule"], a["verdict"]) for a in alerts] == [("fill_deviation", "alert")] * 2
    assert alerts[0]["inputs"] == {"fill_price": pytest.approx(102.0), "reference_price": 100.0}


async def test_a_fill_within_the_limit_raises_nothing():
    bot = runner(RiskConfig(max_fill_deviation_pct=0.01), slippage_bps=100)        # exactly 1%: within
    await bot.run()
    assert bot.journal.of_kind("risk") == []


async def test_with_pause_on_fill_deviation_the_bot_stops_after_the_far_fill():
    bot = runner(RiskConfig(max_fill_deviation_pct=0.01, pause_on_fill_deviation=True), slippage_bps=200)
    assert await bot.run() is RunnerState.STOPPED
    assert bot.bars == 2 and bot.portfolio.quantity > 0          # stopped after the entry filled


class MisbookingPortfolio(Portfolio):
    """Books one fill with a hundredth more than it traded: a ledger that drifted."""

    __slots__ = ()

    def apply_fill(self, fill):
        super().apply_fill(fill)
        self.quantity *= 1.01


async def test_a_position_that_is_not_the_sum_of_the_fills_stops_the_bot_with_the_reason():
    bot = runner(RiskConfig(), portfolio=MisbookingPortfolio("BTC/USD", 1_000.0))
    with pytest.raises(PositionInvariantBroken, match="differs from the sum of the bot's fills"):
        await bot.run()
    assert bot.state is RunnerState.FAILED and "sum of the bot's fills" in bot.last_error
