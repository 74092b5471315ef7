"""The decisions by hand a sim bot makes again past its snapshot, found by where the snapshot stands
in its candles (`runner.state.rerun_decisions`, through `recover`): a real snapshot folder and
SQLite journal in tmp_path. The snapshots here are the ones a bot re-running journalled candles
writes: its `journal_seq` at the journal's end, its candles behind the decisions."""

from __future__ import annotations

import pytest

from runner.state.journal import JournalEvent, SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore

BOT = "sim-bot"
UNTRIPPED = {"tripped": False, "reason": "", "ts_ms": 0}


@pytest.fixture
def journal(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    yield journal.for_bot(BOT)
    journal.close()


@pytest.fixture
def snapshots(tmp_path):
    return SnapshotStore(tmp_path / "bots")


def kill(bars: int, reason: str, source: str = "manual") -> JournalEvent:
    return JournalEvent(BOT, "kill", 1_000 * bars, {"bars": bars, "reason": reason, "source": source}, str(bars),
                        bars - 1)


def decision(bars: int, n: int, action: str, by: str) -> JournalEvent:
    data = {"action": action, "by": by, "level": 3, "reason": f"{action} by {by}"}
    return JournalEvent(BOT, "governance", 1_000 * bars, data, f"{bars}.{n}", bars - 1)


def write_snapshot(snapshots, journal, bars: int, *, latch=UNTRIPPED, state="running", **more) -> None:
    """A snapshot at `bars` candles whose `journal_seq` is the journal's end, as one written while
    the bot re-ran candles it had journalled."""
    snapshots.write(BOT, {"bars": bars, "state": state, "kill_switch": latch, "journal_seq": journal.last_seq,
                          **more})


def test_a_kill_by_hand_ahead_of_a_re_run_snapshot_is_made_again_though_journalled_before_its_seq(
        snapshots, journal):
    journal.record(kill(130, "by hand: looks wrong"))
    write_snapshot(snapshots, journal, 50)

    recovered = recover(BOT, snapshots, journal)

    assert recovered.kills_to_replay == {130: "by hand: looks wrong"}
    assert recovered.journalled_kill == (130, "by hand: looks wrong", "manual")


def test_a_rule_kill_ahead_is_not_replayed_by_hand_but_a_basket_leg_follows_it(snapshots, journal):
    journal.record(kill(90, "drawdown 30%", source="rule"))
    write_snapshot(snapshots, journal, 50)

    recovered = recover(BOT, snapshots, journal)

    assert recovered.kills_to_replay == {}                         # the re-run trips the rule again
    assert recovered.journalled_kill == (90, "drawdown 30%", "rule")


@pytest.mark.parametrize("killed", [False, True], ids=["before-the-kill", "after-the-kill"])
def test_a_kill_at_the_snapshots_candle_is_made_again_unless_the_snapshot_is_killed(snapshots, journal, killed):
    journal.record(kill(70, "by hand: now"))
    latch = {"tripped": True, "reason": "by hand: now", "ts_ms": 70_000} if killed else UNTRIPPED
    write_snapshot(snapshots, journal, 70, latch=latch, state="killed" if killed else "running")

    recovered = recover(BOT, snapshots, journal)

    assert recovered.kills_to_replay == ({} if killed else {70: "by hand: now"})


def test_a_kill_behind_the_snapshots_candle_or_before_the_last_resume_is_not_made_again(snapshots, journal):
    journal.record(kill(60, "by hand: first"))
    journal.record(JournalEvent(BOT, "resume", 61_000, {"cleared": "by hand: first"}))
    journal.record(kill(80, "by hand: behind"))
    write_snapshot(snapshots, journal, 100, latch={"tripped": True, "reason": "other", "ts_ms": 1}, state="failed")

    recovered = recover(BOT, snapshots, journal)

    assert (recovered.kills_to_replay, recovered.journalled_kill) == ({}, None)

    journal.record(JournalEvent(BOT, "resume", 101_000, {"cleared": "by hand: behind"}))
    write_snapshot(snapshots, journal, 40, resets=2)              # re-running from before both kills

    recovered = recover(BOT, snapshots, journal)

    assert (recovered.kills_to_replay, recovered.journalled_kill) == ({}, None)


def test_governance_decisions_past_the_snapshots_count_are_made_again_by_hand_only(snapshots, journal):
    for event in (decision(20, 0, "promote", "rule"), decision(60, 1, "demote", "person"),
                  decision(75, 2, "health", "rule"), decision(90, 3, "promote", "person")):
        journal.record(event)
    write_snapshot(snapshots, journal, 70, governance={"journalled": 2})     # holds the first two

    recovered = recover(BOT, snapshots, journal)

    assert recovered.governance_to_replay == [(90, "promote")]

    write_snapshot(snapshots, journal, 50, governance={"journalled": 1})     # before the demotion

    assert recover(BOT, snapshots, journal).governance_to_replay == [(60, "demote"), (90, "promote")]


def test_the_whole_journals_kills_resumes_and_decisions_come_in_journal_order_among_many_orders(journal):
    """Read through the (bot, kind, key) index and sorted (`SqliteJournal.events`): the same rows,
    in the same order, as a read through every row of the bot gives."""
    for n in range(40):
        journal.record(JournalEvent(BOT, "order", n, {"n": n}, f"o{n}", n))
        if n % 9 == 4:
            journal.record(kill(n + 1, f"by hand {n}"))
        if n % 9 == 6:
            journal.record(JournalEvent(BOT, "resume", n, {"cleared": f"by hand {n - 2}"}))
        if n % 7 == 3:
            journal.record(decision(n + 1, n, "demote", "person"))
    kinds = ("governance", "resume", "kill")
    every_row = [e for e in journal.events() if e.kind in kinds]

    assert journal.events(kinds=kinds) == every_row
    assert [e.seq for e in every_row] == sorted(e.seq for e in every_row) and len(every_row) == 14
    assert journal.events(kinds=kinds, limit=3) == every_row[:3]
