"""A bot restored paused by governance stays stopped at its start, reading no candle, until its
pause is resumed; a kill latched meanwhile still makes it killed (`runner.bot.governing`).
Under the daemon: tests/integration/test_governance_pause_restart.py."""

from __future__ import annotations

from runner.assembly.compose import sim_runner
from runner.bot.strategy_runner import RunnerState
from runner.state.journal import MemoryJournal
from tests.unit.runner.test_governance_runner import candles_from, config, round_trips

CANDLES = candles_from([100.0 + i for i in range(12)])
PAUSE = "drift: divergence 200% is beyond 50%"


def paused_snapshot():
    runner = sim_runner(config(), CANDLES[:4], strategy=round_trips(4))
    runner.governance.pause_reason = PAUSE
    return runner.snapshot()


def restored(state, journal):
    runner = sim_runner(config(), CANDLES, strategy=round_trips(4), journal=journal)
    runner.restore(state)
    return runner


async def test_a_bot_restored_paused_stays_stopped_with_its_reason_and_reads_no_candle():
    journal = MemoryJournal()
    runner = restored(paused_snapshot(), journal)
    assert await runner.run() is RunnerState.STOPPED
    assert runner.bars == 0 and runner.orders == 0
    assert journal.of_kind("lifecycle")[-1].data["detail"] == f"governance pause: {PAUSE}"
    assert runner.governance_figures()["paused"] == PAUSE


async def test_a_resumed_pause_is_journalled_under_a_key_and_the_bot_runs():
    journal = MemoryJournal()
    runner = restored(paused_snapshot(), journal)
    assert runner.resume_governance() and not runner.resume_governance()     # once: then nothing to resume
    [resume] = journal.of_kind("governance")
    assert (resume.key, resume.data["action"], resume.data["by"]) == ("0.0", "resume", "person")
    bars = runner.bars
    assert await runner.run() is RunnerState.FINISHED and runner.bars > bars             # it read its candles
    assert "pause_reason" in runner.snapshot()["governance"] and runner.snapshot()["governance"]["pause_reason"] is None


async def test_a_paused_bot_killed_meanwhile_ends_killed_not_stopped():
    state = paused_snapshot()
    state["kill_switch"] = {"tripped": True, "reason": "by hand", "ts_ms": 0}
    runner = restored(state, MemoryJournal())
    assert await runner.run() is RunnerState.KILLED


async def test_a_snapshot_from_before_pauses_were_saved_restores_a_running_bot():
    state = paused_snapshot()
    del state["governance"]["pause_reason"], state["governance"]["journalled"]
    runner = restored(state, MemoryJournal())
    assert runner.governance.pause_reason is None and runner.governance.journalled == 0
    assert await runner.run() is RunnerState.FINISHED
