"""Governance inside a running bot: decisions on the candles they belong to, journalled with their
reasons, entries scaled by the level, the execution that each level really gets, drift actions."""

from __future__ import annotations

import asyncio

import pytest

from execution.exchange import ExchangeAccounts
from execution.live import LiveExecution
from execution.paper import PaperExecution
from execution.sim import SimExecution
from market.models import Candle
from market.replay import ReplayProvider
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind, Level
from runner.assembly.compose import compose_runner, sim_runner
from runner.bot.clock import ManualClock
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.config.bot import BotConfig
from runner.governance.bot_governance import BotGovernance, trade_return
from runner.governance.saved import saved_governance
from runner.state.journal import MemoryJournal
from strategies.signal import GO_FLAT, GO_LONG
from tests.fakes import QueuedFeed, Scripted, candles_from, eventually

MIN = 60_000
EXCHANGE = {"id": "binance", "base_url": "http://127.0.0.1:9", "api_key_env": "BR_K", "secret_env": "BR_S"}


def round_trips(count, every=3):
    """Long at bars 0, 3, 6 ..., flat one bar later: in sim each trade closes at bar 3k + 2."""
    script = {}
    for k in range(count):
        script[every * k], script[every * k + 1] = GO_LONG, GO_FLAT
    return Scripted(script)


def config(mode="sim", **governance):
    fields = {"id": "gov-bot", "mode": mode, "symbol": "BTC/USDT", "capital": 10_000,
              "strategy": {"name": "sma_cross"}, "risk": {"stake_pct": 1.0}, "execution": {"fee_rate": 0.0},
              "governance": {"enabled": True, "promotion": {"min_trades": 3}} | governance}
    if mode != "sim":
        fields["exchange"] = EXCHANGE
    return BotConfig.model_validate(fields)


def governance_events(journal):
    return [(e.bar, e.data["action"], e.data["from"], e.data["to"]) for e in journal.of_kind("governance")]


async def test_a_bot_climbs_to_l2_on_the_candles_its_trades_close_then_waits_for_a_person():
    journal = MemoryJournal()
    runner = sim_runner(config(), candles_from([100.0 + i for i in range(40)]), strategy=round_trips(12),
                        journal=journal)
    await runner.run()

    # The 3rd trade closes at bar 8 (L0 -> L1), the 6th at 17 (L1 -> L2); the 9th makes the
    # rule hold at L2 (bar 26), where only a person may promote.
    assert governance_events(journal) == [(8, "promote", 0, 1), (17, "promote", 1, 2), (26, "refuse", 2, 2)]
    assert all(e.data["reason"] for e in journal.of_kind("governance"))
    assert runner.governance.level is Level.GATED
    entries = [e.data for e in journal.of_kind("fill") if e.data["side"] == "buy"]
    before, after = entries[5], entries[6]        # the 6th entry was at L1, the 7th at L2
    assert before["quantity"] * before["price"] == pytest.approx(before["cash"] + before["quantity"] * before["price"])
    assert after["quantity"] * after["price"] == pytest.approx(0.1 * (after["cash"] + after["quantity"] * after["price"]))


async def test_demotion_happens_on_the_candle_the_drawdown_at_the_level_crosses_its_limit():
    closes = [100.0, 100.0, 104.0] + [104.0 * 0.99 ** k for k in range(1, 40)]   # held at L3's half size
    journal = MemoryJournal()
    runner = sim_runner(config(start_level=3), candles_from(closes), strategy=Scripted({0: GO_LONG}),
                        journal=journal, record_equity=True)
    await runner.run()

    curve = runner.equity_curve
    peak = crossing = None
    for bar, equity in enumerate(curve):
        peak = equity if peak is None else max(peak, equity)
        if 1 - equity / peak > 0.10:
            crossing = bar
            break
    assert crossing is not None and 1 - curve[crossing - 1] / peak <= 0.10
    assert governance_events(journal) == [(crossing, "demote", 3, 2)]
    assert "beyond 10.0%" in journal.of_kind("governance")[0].data["reason"]


async def test_a_person_promotes_past_l2_only_when_the_rule_holds():
    journal = MemoryJournal()
    runner = sim_runner(config(start_level=2), candles_from([100.0 + i for i in range(8)]), strategy=round_trips(2),
                        journal=journal)
    await runner.run()
    refused = await runner.govern_by_hand("promote")
    assert refused.action == "refuse" and "2 of 3 closed trades" in refused.reason
    assert runner.governance.level is Level.GATED

    runner = sim_runner(config(start_level=2), candles_from([100.0 + i for i in range(12)]), strategy=round_trips(3),
                        journal=journal)
    await runner.run()
    accepted = await runner.govern_by_hand("promote")
    assert (accepted.action, accepted.by, runner.governance.level) == ("promote", "person", Level.CONSTRAINED)
    assert runner.risk.sizing.stake_pct == pytest.approx(0.5)      # L3: the constrained fraction
    assert journal.of_kind("governance")[-1].data["by"] == "person"


async def test_a_shadow_bot_records_its_orders_as_shadow_and_switches_to_paper_once_promoted_and_flat():
    journal = MemoryJournal()
    runner = compose_runner(config("paper"), ReplayProvider("BTC/USDT", "1m", candles_from([100.0 + i for i in range(30)])),
                            strategy=round_trips(9), journal=journal, clock=ManualClock(0))   # every candle fresh
    assert isinstance(runner.execution, SimExecution)            # L0: sim fills, nothing sent
    assert await runner.run() is RunnerState.STOPPED

    assert runner.execution_switched and runner.bars == 9        # promoted at bar 8, flat: rebuilt
    assert [e.data["action"] for e in journal.of_kind("governance")] == ["promote", "switch"]
    assert all(e.data["shadow"] for e in journal.events if e.kind in ("order", "fill"))
    saved = saved_governance(config("paper").governance, "paper", runner.snapshot(), [])
    assert (saved.level, saved.running_kind) == (Level.PAPER, ExecutionKind.PAPER)


async def test_each_level_of_a_live_bot_gets_its_own_execution_and_size():
    registry = ExchangeAccounts(environ={"BR_K": "k", "BR_S": "s"})
    try:
        bot = config("live", constrained_fraction=0.4)
        kinds = {}
        for level in Level:
            saved = saved_governance(bot.governance.model_copy(update={"start_level": int(level)}), "live", None, [])
            runner = compose_runner(bot, ReplayProvider("BTC/USDT", "1m", []), account=registry.get(bot.exchange),
                                    governance=saved)
            runner._scale_entries()
            kinds[level] = (type(runner.execution), runner.risk.sizing.stake_pct)
            await runner.aclose()
        assert kinds == {Level.SHADOW: (SimExecution, 1.0), Level.PAPER: (PaperExecution, 1.0),
                         Level.GATED: (LiveExecution, 0.1), Level.CONSTRAINED: (LiveExecution, 0.4),
                         Level.FULL: (LiveExecution, 1.0)}
    finally:
        await registry.aclose()


def drifting_bot(backtest_returns, journal, **drift):
    """A paper bot at L1 on a queued feed whose backtest reports `backtest_returns` (trades
    entered at time 0), and whose own trades are scripted to gain 1% each. Its first drift
    check starts on its 20th candle, when its six trades are closed."""
    settings = GovernanceConfig(enabled=True, start_level=1,
                                drift={"every_candles": 20, "window_candles": 40, "min_trades": 1} | drift)
    governance = BotGovernance(settings, mode="paper", running_kind=ExecutionKind.PAPER, level=Level.PAPER,
                               gated_size=0.1, backtest=lambda candles, warmup: [(0, r) for r in backtest_returns])
    feed = QueuedFeed("BTC/USDT")
    return StrategyRunner("gov-bot", feed=feed, strategy=round_trips(6), risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                          execution=SimExecution(fee_rate=0.0), portfolio=Portfolio("BTC/USDT", 10_000),
                          journal=journal, governance=governance), feed


@pytest.mark.parametrize(("backtest_total", "action", "state"), [
    (0.06 / 0.71, "none", RunnerState.RUNNING),          # the bot made 29% less: nothing
    (0.06 / 0.69, "reduce", RunnerState.RUNNING),        # 31% less: entries halved
    (0.06 / 0.49, "pause", RunnerState.STOPPED),         # 51% less: paused
])
async def test_drift_from_the_backtest_reduces_then_pauses(backtest_total, action, state):
    journal = MemoryJournal()
    runner, feed = drifting_bot([backtest_total / 6] * 6, journal)
    running = asyncio.create_task(runner.run())
    # Six round trips of +1% each (a 1% step per candle up to bar 18), then flat candles, one
    # at a time until the drift check (started on the 20th, in a thread) has been applied.
    closes = [100.0 * 1.01 ** min(i, 18) for i in range(200)]
    for candle in candles_from(closes):
        feed.queue.put_nowait(candle)
        await eventually(lambda: runner.bars == candle.ts_ms // MIN + 1 or running.done(), timeout_secs=5)
        if runner.governance.last_drift is not None or running.done():
            break
    assert sum(trade_return(t) for t in runner.portfolio.trades) == pytest.approx(0.06)
    assert runner.governance.last_drift["action"] == action
    drift_events = [e.data for e in journal.of_kind("governance") if e.data["action"].startswith("drift")]
    if action == "none":
        assert drift_events == [] and runner.governance.drift_factor == 1.0
    else:
        assert drift_events[0]["action"] == f"drift_{action}" and drift_events[0]["reason"]
        assert runner.governance.drift_factor == 0.5
    if state is RunnerState.STOPPED:
        await eventually(lambda: running.done(), timeout_secs=5)
        assert runner.state is RunnerState.STOPPED
        assert journal.of_kind("lifecycle")[-1].data["detail"].startswith("governance pause: drift")
    else:
        assert runner.state is RunnerState.RUNNING
    feed.queue.put_nowait(None)
    await running


def test_a_health_change_of_a_step_or_more_is_journalled_and_scales_the_entries():
    from portfolio.trades import Trade

    settings = GovernanceConfig(enabled=True, health={"window_trades": 10, "min_trades": 4, "journal_step": 0.1})
    governance = BotGovernance(settings, mode="sim", running_kind=ExecutionKind.SIM, level=Level.SHADOW, gated_size=0.1)
    candle = Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0)

    def trade(pnl):
        return Trade(0, MIN, 1.0, 100.0, 100.0 + pnl, pnl, 0.0, "exit")

    quiet = [governance.on_candle(candle, 10_000.0, [trade(1.0)]) for _ in range(4)]   # four winners: health 1.0
    assert not any(quiet)
    [record] = governance.on_candle(candle, 10_000.0, [trade(-3.0)])
    # 4 wins of 5; gains 0.04 of 0.07; a 3% drawdown of a 20% scale
    assert record["action"] == "health" and record["from"] == 1.0
    assert record["to"] == pytest.approx((0.8 + 0.04 / 0.07 + (1 - 0.03 / 0.2)) / 3, abs=1e-4)
    assert governance.size_multiplier == pytest.approx(governance.health.score)
    assert governance.on_candle(candle, 10_000.0, [trade(0.2)]) == []        # 0.74 -> 0.76: under a step
