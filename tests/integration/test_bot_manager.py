"""Many bots in one process: real feeds, real journal, real snapshot files."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest

from market.shared import FeedHub
from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.daemon.process import freeze_startup_heap
from runner.config.daemon import SupervisorConfig
from runner.control.errors import BotStateError, UnknownBot
from runner.state.journal import SqliteJournal
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.snapshots import SnapshotStore
from strategies.registry import register
from strategies.sma_cross import SmaCross
from tests.fakes import eventually

BARS = 3_000


@register
class ExplodingSmaCross(SmaCross):
    """sma_cross that raises on one candle: a strategy with a bug."""

    name = "test_exploding_sma_cross"

    def generate_signal(self, market_data):
        if market_data.bar_index == 1_000:
            raise ZeroDivisionError("division by zero in generate_signal")
        return super().generate_signal(market_data)


def bot(bot_id: str, *, seed: int = 3, strategy: str = "sma_cross", speed: float | None = None, **extra) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": seed, "bars": BARS, "start_price": 20_000},
        "strategy": {"name": strategy, "params": {"fast": 5, "slow": 20}},
        "risk": {"stake_pct": 0.9, "stop_loss_pct": 0.02}, "speed": speed, **extra,
    })


async def run_alone(config: BotConfig) -> dict:
    candles = generate_candles(count=BARS, seed=config.market.seed, start_price=20_000, timeframe="1m")
    runner = sim_runner(config, candles)
    await runner.run()
    return runner.snapshot()


@pytest.fixture
def services(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    made = []

    def make() -> DaemonServices:
        svc = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
    journal.close()


def same_ledger(a: dict, b: dict) -> None:
    assert a["portfolio"] == b["portfolio"]
    assert (a["bars"], a["order_seq"]) == (b["bars"], b["order_seq"])


async def test_many_bots_run_together_and_each_matches_its_standalone_run(services):
    configs = [bot(f"bot-{i}", seed=i % 3) for i in range(12)]    # 3 shared streams, 4 bots each
    svc = services()
    manager = BotManager(configs, svc)
    await asyncio.wait_for(manager.run(asyncio.Event()), 30)
    assert len(svc.hub.streams()) == 3
    for config in configs:
        status = manager.status(config.id)
        assert status.state == "finished" and status.bars == BARS
        same_ledger(json.loads(svc.snapshots.path(config.id).read_text())["state"], await run_alone(config))


async def test_a_crashing_bot_restarts_then_fails_while_the_others_finish(services, log_records):
    configs = [bot("healthy-a"), bot("broken", strategy="test_exploding_sma_cross"), bot("healthy-b", seed=4)]
    manager = BotManager(configs, services(),
                         supervisor=SupervisorConfig(max_restarts=2, window_secs=60, backoff_initial_secs=0.01))
    await asyncio.wait_for(manager.run(asyncio.Event()), 30)
    broken = manager.status("broken")
    assert broken.state == "failed" and broken.restarts == 2 and broken.errors == 3
    assert "crashed 3 times" in broken.last_error and "ZeroDivisionError" in broken.last_error
    assert {manager.status(b).state for b in ("healthy-a", "healthy-b")} == {"finished"}
    tracebacks = [r for r in log_records if r["level"].name == "ERROR" and r["exception"]]
    assert len(tracebacks) == 3 and {r["extra"]["bot"] for r in tracebacks} == {"broken"}
    # Every restart resumed from the last snapshot and re-ran up to the candle it crashed on
    # (index 1000, the 1001st read).
    assert broken.bars == 1_001


async def test_stop_start_kill_resume_through_the_manager(services, log_records):
    configs = [bot("paced", speed=60_000), bot("other", seed=5, speed=60_000)]   # 1000 candles/s
    manager = BotManager(configs, services(), exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: manager.status("paced").bars > 100, timeout_secs=10, poll_secs=0.005)

    stopped = await manager.stop("paced")
    assert stopped.state == "stopped"
    with pytest.raises(BotStateError, match="not running"):
        await manager.stop("paced")
    bars_at_stop = stopped.bars
    started = await manager.start("paced")
    assert started.state in ("starting", "running")
    await eventually(lambda: manager.status("paced").bars > bars_at_stop + 50, timeout_secs=10, poll_secs=0.005)

    killed = await manager.kill("paced", "operator: exchange looks wrong")
    await eventually(lambda: manager.status("paced").state == "killed", timeout_secs=10, poll_secs=0.005)
    killed = manager.status("paced")
    assert killed.kill_switch and killed.kill_reason == "operator: exchange looks wrong"
    assert killed.position == 0.0
    tripped = [r for r in log_records if r["message"].startswith("Kill switch tripped: operator")]
    assert tripped and all(r["extra"].get("bot") == "paced" for r in tripped)    # tagged as the bot's own
    with pytest.raises(BotStateError, match="latched"):
        await manager.start("paced")
    assert manager.status("other").state == "running"      # untouched by all of this

    await manager.resume("paced")
    await eventually(lambda: manager.status("paced").state == "running", timeout_secs=10, poll_secs=0.005)
    assert not manager.status("paced").kill_switch
    with pytest.raises(UnknownBot):
        manager.status("nope")
    stop.set()
    await asyncio.wait_for(running, 10)
    assert {s.state for s in manager.statuses()} == {"stopped"}


async def test_a_kill_after_a_resume_on_the_same_candle_kills_again_and_both_are_journalled(services, tmp_path):
    # One candle every 20 minutes: the kill, the resume and the second kill come on one candle.
    manager = BotManager([bot("twice", speed=0.05)], services(), exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: manager.status("twice").state == "running", timeout_secs=10, poll_secs=0.005)

    bars = manager.status("twice").bars
    await manager.kill("twice", "first")
    await eventually(lambda: manager.status("twice").state == "killed", timeout_secs=10, poll_secs=0.005)
    await manager.resume("twice")
    await eventually(lambda: manager.status("twice").state == "running", timeout_secs=10, poll_secs=0.005)
    await manager.kill("twice", "second")          # refused as a journal conflict before the fix
    await eventually(lambda: manager.status("twice").state == "killed", timeout_secs=10, poll_secs=0.005)

    assert manager.status("twice").kill_reason == "second" and manager.status("twice").bars == bars
    stop.set()
    await asyncio.wait_for(running, 10)
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        kills = [(e.key, e.data["reason"]) for e in journal.events("twice", kinds=("kill",))]
    finally:
        journal.close()
    assert kills == [(str(bars), "first"), (f"{bars}.1", "second")]


async def test_a_restarted_manager_continues_from_the_snapshots_like_an_uninterrupted_run(services):
    config = bot("restartable", speed=120_000)
    first = BotManager([config], services(), exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await eventually(lambda: first.status("restartable").bars > 800, timeout_secs=10, poll_secs=0.005)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert 800 < first.status("restartable").bars < BARS

    second = BotManager([bot("restartable")], services())       # same bot, now at full speed
    await asyncio.wait_for(second.run(asyncio.Event()), 30)
    assert second.status("restartable").state == "finished"
    snapshot = json.loads(SnapshotStore(second._services.snapshots.folder).path("restartable").read_text())["state"]
    same_ledger(snapshot, await run_alone(config))


async def test_killed_bot_stays_killed_across_a_restart(services):
    config = bot("latched", speed=60_000)
    first = BotManager([config], services(), exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await eventually(lambda: first.status("latched").bars > 50, timeout_secs=10, poll_secs=0.005)
    await first.kill("latched", "by hand")
    stop.set()
    await asyncio.wait_for(running, 10)

    second = BotManager([config], services())
    stop = asyncio.Event()
    running = asyncio.create_task(second.run(stop))
    await eventually(lambda: second.status("latched").state == "killed", timeout_secs=10, poll_secs=0.005)
    assert second.status("latched").kill_reason == "by hand"
    assert not running.done()                   # a killed bot waits for resume; the daemon stays
    stop.set()
    await asyncio.wait_for(running, 10)


async def test_corrupt_snapshot_is_rebuilt_from_the_journal(services, log_records):
    config = bot("damaged")
    first = services()
    await asyncio.wait_for(BotManager([config], first).run(asyncio.Event()), 30)
    path = first.snapshots.path("damaged")
    path.write_bytes(path.read_bytes()[:200])                     # truncated

    again = services()
    manager = BotManager([config], again)
    await asyncio.wait_for(manager.run(asyncio.Event()), 30)
    assert manager.status("damaged").state == "finished"
    same_ledger(json.loads(path.read_text())["state"], await run_alone(config))
    assert list(path.parent.glob("damaged.json.corrupt-*"))
    assert any("rebuilding the bot from the journal" in r["message"] for r in log_records)


async def test_corrupt_snapshot_with_nothing_journalled_refuses_to_start(services, tmp_path):
    svc = services()
    svc.snapshots.path("orphan").write_text('{"version": 1, "bot_id": "orphan", "sha')
    manager = BotManager([bot("orphan")], svc)
    await asyncio.wait_for(manager.run(asyncio.Event()), 10)
    status = manager.status("orphan")
    assert status.state == "failed"
    assert "not a valid snapshot" in status.last_error and "Refusing to start it empty" in status.last_error


async def test_reload_adds_removes_and_restarts_only_what_changed(services):
    configs = [bot("keep", speed=60_000), bot("drop", speed=60_000), bot("change", speed=60_000)]
    new = [bot("keep", speed=60_000), bot("change", speed=60_000, capital=20_000), bot("added", speed=60_000)]
    manager = BotManager(configs, services(), reload_configs=lambda: new, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await eventually(lambda: all(s.state == "running" for s in manager.statuses()), timeout_secs=10, poll_secs=0.005)
    keep_task = manager._slots["keep"].task
    result = await manager.reload()
    assert (result.added, result.removed, result.restarted, result.unchanged) == (["added"], ["drop"], ["change"], ["keep"])
    assert manager._slots["keep"].task is keep_task                # left running
    assert [s.id for s in manager.statuses()] == ["added", "change", "keep"]
    await eventually(lambda: manager.status("added").state == "running", timeout_secs=10, poll_secs=0.005)
    stop.set()
    await asyncio.wait_for(running, 10)


async def test_the_daemon_freezes_the_start_up_heap_once_every_bot_has_started(services):
    manager, stop = BotManager([bot("a", speed=60_000), bot("b", seed=5, speed=60_000)], services()), asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    thresholds = gc.get_threshold()
    try:
        await asyncio.wait_for(freeze_startup_heap(manager), 10)
        assert all(s.state == "running" for s in manager.statuses())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()                 # the rest of the test session collects as usual
        gc.set_threshold(*thresholds)
        stop.set()
        await asyncio.wait_for(running, 10)
