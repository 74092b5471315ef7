"""Counts of one say "1 trade", "1 order", "1 bot": `botrunner governance`, optimize's trials,
a portfolio backtest's header, a restart's reconciliation and the daily summary."""

from __future__ import annotations

from concurrent.futures import Future

from execution.models import Fill, Order, Side
from market.models import Candle
from portfolio.trades import Trade
from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind, Level
from execution.reconcile import ReconcileReport
from runner.assembly.reconcile_on_start import _describe
from runner.backtest.portfolio import load_portfolio, run_portfolio
from runner.backtest.portfolio_report import format_portfolio_report
from runner.control.governance_status import format_governance, governance_status
from runner.governance.bot_governance import BotGovernance
from runner.notify.events import daily_summary
from runner.research.search import _judged
from tests.fakes import make_status
from tests.unit.runner.test_portfolio_backtest import write_folder


def test_governance_with_one_trade_at_the_level_says_one_trade():
    # Before: "at this level: 1 trades; promotion: ...".
    status = governance_status("btc", "running", "live", {"level": 1, "trades_at_level": 1,
                                                          "promotion_shortfall": "1 of 50 closed trades"}, [])
    assert "  at this level: 1 trade; promotion: 1 of 50 closed trades" in format_governance([status]).splitlines()


def test_a_trial_of_one_trade_under_min_trades_says_one_trade():
    future: Future = Future()
    future.set_result({"trades": 1})
    assert _judged(3, {"fast": 5}, future, lambda summary: 0.0, 2).note == "1 trade, fewer than --min-trades 2"


async def test_a_portfolio_backtest_of_one_bot_says_one_bot(tmp_path):
    daemon, bots = load_portfolio(write_folder(tmp_path, "", [{"id": "solo", "bars": 50}]))
    header = format_portfolio_report(await run_portfolio(daemon, bots)).splitlines()[0]
    assert header.startswith("Portfolio backtest  1 bot  ")


def test_a_reconciliation_of_one_each_says_one_trade_and_one_order():
    order = Order("x-1", "BTC/USDT", Side.BUY, quantity=1.0)
    fill = Fill("x-1", "BTC/USDT", Side.BUY, 1.0, 100.0, 0.0, 0)
    report = ReconcileReport("BTC/USDT", [order], [], [fill], 0.0, 0.0)
    assert _describe(report, [order]) == ("1 trade not in the journal, 1 open order the bot does not know, "
                                                 "1 order no longer open on the exchange")


def test_the_daily_summary_of_one_trade_says_one_trade():
    body = daily_summary("host", "today", [make_status("btc", "running", trades=1)], {}).body
    assert body.endswith(", 1 trade.") and ", 1 trade, running" in body


def test_a_health_change_on_one_trade_says_one_trade():
    settings = GovernanceConfig(enabled=True, health={"window_trades": 10, "min_trades": 1, "journal_step": 0.1})
    governance = BotGovernance(settings, mode="sim", running_kind=ExecutionKind.SIM, level=Level.SHADOW, gated_size=0.1)
    loser = Trade(0, 60_000, 1.0, 100.0, 97.0, -3.0, 0.0, "exit")
    records = governance.on_candle(Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0), 10_000.0, [loser])
    health = next(r for r in records if r["action"] == "health")
    assert " over the last 1 trade; entries now x" in health["reason"]
