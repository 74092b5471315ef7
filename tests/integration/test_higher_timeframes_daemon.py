"""Sim bots with a higher timeframe in the daemon: the bots of one replay share one aggregation
and each trades as its own backtest does; one stopped midway and started again by a new
manager (it re-runs its candles) ends as an uninterrupted run."""

from __future__ import annotations

import asyncio
import json

from market.shared import FeedHub
from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually

BARS = 3_000


def trend_bot(bot_id: str, *, speed: float | None = None, fast: int = 5) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000, "speed": speed,
        "market": {"source": "synthetic", "seed": 9, "bars": BARS, "start_price": 20_000},
        "strategy": {"name": "sma_cross_trend",
                     "params": {"fast": fast, "slow": 20, "trend_timeframe": "1h", "trend_period": 5}},
        "risk": {"stake_pct": 0.9}})


async def backtest_state(config: BotConfig) -> dict:
    runner = sim_runner(config, generate_candles(count=BARS, seed=9, start_price=20_000, timeframe="1m"))
    await runner.run()
    assert runner.portfolio.trades                      # the test compares something
    return runner.snapshot()


def services(tmp_path) -> DaemonServices:
    return DaemonServices(hub=FeedHub(), journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                          snapshots=SnapshotStore(tmp_path / "bots"))


def saved_state(tmp_path, bot_id: str) -> dict:
    return json.loads(SnapshotStore(tmp_path / "bots").path(bot_id).read_text())["state"]


async def test_bots_of_one_replay_share_one_aggregation_and_each_trades_as_its_backtest(tmp_path):
    configs = [trend_bot("trend-a"), trend_bot("trend-b", fast=3), trend_bot("trend-c", fast=8)]
    svc = services(tmp_path)
    manager = BotManager(configs, svc)
    await asyncio.wait_for(manager.run(asyncio.Event()), 30)
    svc.close()
    svc.journal.close()

    assert len(svc.replay_features.timeframes) == 1
    for config in configs:
        assert manager.status(config.id).state == "finished"
        state, alone = saved_state(tmp_path, config.id), await backtest_state(config)
        assert state["portfolio"] == alone["portfolio"] and state["bars"] == alone["bars"] == BARS


async def test_a_bot_stopped_midway_and_started_again_ends_as_an_uninterrupted_run(tmp_path):
    first_services = services(tmp_path)
    first = BotManager([trend_bot("trend-restart", speed=120_000)], first_services, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await eventually(lambda: first.status("trend-restart").bars > 1_200, timeout_secs=10, poll_secs=0.005)
    stop.set()
    await asyncio.wait_for(running, 10)
    first_services.close()
    first_services.journal.close()
    assert 1_200 < first.status("trend-restart").bars < BARS

    second_services = services(tmp_path)
    second = BotManager([trend_bot("trend-restart")], second_services)       # the rest at full speed
    await asyncio.wait_for(second.run(asyncio.Event()), 30)
    second_services.close()
    second_services.journal.close()
    assert second.status("trend-restart").state == "finished"
    state, alone = saved_state(tmp_path, "trend-restart"), await backtest_state(trend_bot("trend-restart"))
    assert state["portfolio"] == alone["portfolio"] and state["bars"] == BARS
