"""Governance events carry deterministic keys, `<candles read>.<decisions before>`: a sim bot
re-running its candles after a crash journals each decision once (a real SQLite journal); a
paper or live bot's decisions journalled past its snapshot are folded into it (level, pause,
count), so its next key is a new one. (`runner.bot.governing`, `runner.governance.saved`.)"""

from __future__ import annotations

from market.replay import ReplayProvider
from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind, Level
from runner.assembly.compose import compose_runner, sim_runner
from runner.governance.bot_governance import BotGovernance
from runner.governance.saved import saved_governance
from runner.state.journal import JournalEvent, MemoryJournal, SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from tests.unit.runner.test_governance_runner import candles_from, config, round_trips

CANDLES = candles_from([100.0 + i for i in range(40)])     # promotions at bars 8 and 17, a refusal at 26


async def test_a_sim_bot_re_running_its_candles_after_a_crash_journals_each_governance_decision_once(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        first = sim_runner(config(), CANDLES, strategy=round_trips(12), journal=journal.for_bot("gov-bot"))
        await first.run()
        journal.commit()
        journalled = journal.events("gov-bot", kinds=("governance",))
        assert [(e.key, e.data["action"]) for e in journalled] == [("9.0", "promote"), ("18.1", "promote"),
                                                                   ("27.2", "refuse")]
        # The snapshot the daemon had written at candle 10; the process died at the end of the run.
        at_ten = sim_runner(config(), CANDLES[:10], strategy=round_trips(12))
        await at_ten.run()
        state = at_ten.snapshot()

        again = compose_runner(config(), ReplayProvider("BTC/USDT", "1m", CANDLES, warmup=10), warmup_bars=10,
                               strategy=round_trips(12), journal=journal.for_bot("gov-bot"))
        again.restore(state)
        await again.run()                      # re-writes the decisions of bars 17 and 26: checked, kept once
        journal.commit()
        assert journal.events("gov-bot", kinds=("governance",)) == journalled
    finally:
        journal.close()


def event(seq, data):
    return JournalEvent("gov-bot", "governance", 0, data, f"{seq}.{seq}", seq, seq)


def test_paper_decisions_past_the_snapshot_are_folded_into_it_level_pause_and_count():
    settings = GovernanceConfig(enabled=True, start_level=1)
    governance = BotGovernance(settings, mode="paper", running_kind=ExecutionKind.PAPER, level=Level.PAPER,
                               gated_size=0.1)
    governance.journalled = 4
    snapshot = {"governance": governance.snapshot()}
    drift = {"action": "pause", "reason": "divergence 200% is beyond 50%"}
    past = [event(5, {"action": "demote", "from": 1, "to": 0, "level": 0, "reason": "drawdown", "by": "rule"}),
            event(6, {"action": "drift_pause", "level": 0, "drift": drift, "reason": "paused"})]

    saved = saved_governance(settings, "paper", snapshot, past)

    assert (saved.level, saved.running_kind) == (Level.SHADOW, ExecutionKind.PAPER)   # it ran paper to close
    restored = BotGovernance(settings, mode="paper", running_kind=saved.running_kind, level=saved.level,
                             gated_size=0.1)
    restored.restore(snapshot["governance"])                     # what the runner restores: the folded state
    assert restored.level is Level.SHADOW and restored.journalled == 6
    assert restored.pause_reason == "drift: divergence 200% is beyond 50%"
    assert restored.drift_factor == settings.drift.reduce_to
    resumed = saved_governance(settings, "paper", {"governance": restored.snapshot()},
                               [event(7, {"action": "resume", "level": 0, "by": "person", "reason": "started"})])
    assert resumed.state["pause_reason"] is None and resumed.state["journalled"] == 7


def test_a_sim_bot_takes_its_level_from_its_snapshot_alone_its_re_run_makes_the_decisions_again():
    settings = GovernanceConfig(enabled=True, start_level=0)
    promoted = [event(1, {"action": "promote", "from": 0, "to": 1, "level": 1, "reason": "rule", "by": "rule"})]
    assert saved_governance(settings, "sim", None, promoted).level is Level.SHADOW      # re-run from the start
    assert saved_governance(settings, "paper", None, promoted).level is Level.PAPER


async def test_a_decision_by_hand_takes_the_next_key_after_those_restored():
    journal = MemoryJournal()
    runner = sim_runner(config(start_level=2), CANDLES[:12], strategy=round_trips(4), journal=journal)
    runner.governance.journalled = 7                             # as restored from a snapshot
    await runner.run()
    await runner.govern_by_hand("demote")
    *by_rule, by_hand = journal.of_kind("governance")
    assert [e.key.split(".")[1] for e in journal.of_kind("governance")] == [str(7 + n) for n in range(len(by_rule) + 1)]
    assert (by_hand.key, by_hand.data["action"]) == (f"12.{7 + len(by_rule)}", "demote")


async def test_a_persons_decision_past_the_snapshot_is_made_again_at_the_same_place_when_a_sim_bot_re_runs(tmp_path):
    journal, snapshots = SqliteJournal(tmp_path / "journal.sqlite3"), SnapshotStore(tmp_path / "bots")
    try:
        bot_journal = journal.for_bot("gov-bot")
        first = sim_runner(config(start_level=2), CANDLES[:12], strategy=round_trips(12), journal=bot_journal)
        await first.run()
        snapshots.write("gov-bot", {**first.snapshot(), "journal_seq": bot_journal.last_seq})
        await first.govern_by_hand("demote")            # L2 -> L1; the snapshot it wrote never reached the disk
        demoted = first.snapshot()
        journal.commit()

        recovered = recover("gov-bot", snapshots, bot_journal)
        assert recovered.governance_to_replay == [(12, "demote")]
        again = compose_runner(config(start_level=2), ReplayProvider("BTC/USDT", "1m", CANDLES, warmup=12),
                               warmup_bars=12, strategy=round_trips(12), journal=bot_journal)
        again.restore(recovered.state)
        for bars, asked in recovered.governance_to_replay:
            again.schedule_governance(bars, asked)
        await again.run()
        journal.commit()
        # As if the process had gone on from the demotion without a crash:
        went_on = compose_runner(config(start_level=2), ReplayProvider("BTC/USDT", "1m", CANDLES, warmup=12),
                                 warmup_bars=12, strategy=round_trips(12), journal=MemoryJournal())
        went_on.restore(demoted)
        await went_on.run()

        assert again.governance.level is went_on.governance.level
        assert again.portfolio.snapshot() == went_on.portfolio.snapshot()
        demotions = [e for e in journal.events("gov-bot", kinds=("governance",)) if e.data["action"] == "demote"]
        assert [(e.key, e.data["by"]) for e in demotions] == [(f"12.{demotions[0].key.split('.')[1]}", "person")]
    finally:
        journal.close()
