"""Where a bot restarts from (`recover`): a real snapshot folder and SQLite journal in tmp_path."""

from __future__ import annotations

import pytest

from execution.models import Fill, Order, Side, fill_to_dict, order_to_dict
from runner.state.journal import JournalEvent, SqliteJournal
from runner.state.recovery import RecoveryError, recover
from runner.state.snapshots import SnapshotStore

BOT = "btc-ema"


@pytest.fixture
def journal(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    yield journal.for_bot(BOT)
    journal.close()


@pytest.fixture
def snapshots(tmp_path):
    return SnapshotStore(tmp_path / "bots")


def order(n: int) -> JournalEvent:
    data = order_to_dict(Order(f"o{n}", "BTC/USDT", Side.BUY, quote_amount=100.0))
    return JournalEvent(BOT, "order", 1_000 * n, data, f"o{n}", n)


def fill(n: int) -> JournalEvent:
    data = fill_to_dict(Fill(f"o{n}", "BTC/USDT", Side.BUY, 0.001, 100_000.0, 0.1, 1_000 * n, fill_id=f"t{n}"))
    return JournalEvent(BOT, "fill", 1_000 * n, data, f"t{n}", n)


def kill(bar: int, reason: str, source: str = "manual") -> JournalEvent:
    return JournalEvent(BOT, "kill", 1_000 * bar, {"bars": bar, "reason": reason, "source": source}, None, bar)


def test_a_bot_with_no_snapshot_and_no_journal_starts_fresh(snapshots, journal):
    recovered = recover(BOT, snapshots, journal)

    assert (recovered.source, recovered.state, recovered.position) == ("fresh", None, 0)
    assert (recovered.fills_after, recovered.orders_after, recovered.kills_to_replay) == ([], [], {})


def test_only_what_the_journal_holds_past_the_snapshot_is_replayed(snapshots, journal):
    before = [journal.record(e) for e in (order(1), fill(1))]
    snapshots.write(BOT, {"bars": 10, "journal_seq": before[-1], "kill_switch": {"tripped": True}})
    for event in (order(2), fill(2), order(3), JournalEvent(BOT, "cancel", 12_000, {}, "o3", 12),
                  kill(14, "operator: looks wrong"), kill(15, "drawdown 30%", source="risk")):
        journal.record(event)

    recovered = recover(BOT, snapshots, journal)

    assert (recovered.source, recovered.position) == ("snapshot", 10)
    assert [f["fill_id"] for f in recovered.fills_after] == ["t2"]
    assert [o["order_id"] for o in recovered.orders_after] == ["o2"]            # o3 was cancelled
    assert recovered.kills_to_replay == {14: "operator: looks wrong"}          # only kills by hand


def test_a_resume_past_the_snapshot_clears_the_latch_and_earlier_kills(snapshots, journal):
    snapshots.write(BOT, {"bars": 5, "journal_seq": 0,
                          "kill_switch": {"tripped": True, "reason": "operator", "ts_ms": 1}})
    journal.record(kill(6, "operator: pause"))
    journal.record(JournalEvent(BOT, "resume", 7_000, {}, None, 7))

    recovered = recover(BOT, snapshots, journal)

    assert recovered.kills_to_replay == {}
    assert recovered.state["kill_switch"] == {"tripped": False, "reason": "", "ts_ms": 0, "resets": 1}   # counted, as KillSwitch.reset does


def test_a_crash_before_the_first_snapshot_rebuilds_from_the_journal(snapshots, journal):
    journal.record(order(1))
    journal.record(fill(1))

    recovered = recover(BOT, snapshots, journal)

    assert (recovered.source, recovered.state) == ("journal", None)
    assert [f["fill_id"] for f in recovered.fills_after] == ["t1"]


def test_a_damaged_snapshot_is_moved_aside_and_the_bot_rebuilt_from_the_journal(snapshots, journal):
    journal.record(order(1))
    snapshots.write(BOT, {"bars": 3, "journal_seq": 1})
    snapshots.path(BOT).write_text(snapshots.path(BOT).read_text().replace('"bars":3', '"bars":4'))

    recovered = recover(BOT, snapshots, journal)

    assert (recovered.source, recovered.state, recovered.position) == ("journal", None, 0)
    assert not snapshots.path(BOT).exists()
    assert [p.name.split(".corrupt-")[0] for p in snapshots.folder.glob("*.corrupt-*")] == [f"{BOT}.json"]
    assert [o["order_id"] for o in recovered.orders_after] == ["o1"]


def test_a_damaged_snapshot_with_an_empty_journal_refuses_to_start_and_keeps_the_file(snapshots, journal):
    snapshots.path(BOT).write_text("{not json")

    with pytest.raises(RecoveryError, match="holds nothing for bot btc-ema to rebuild it from"):
        recover(BOT, snapshots, journal)
    assert snapshots.path(BOT).read_text() == "{not json"


def test_kills_and_resumes_past_the_snapshot_leave_the_latch_they_make_the_first_reason_kept(snapshots, journal):
    snapshots.write(BOT, {"bars": 5, "journal_seq": 0, "kill_switch": {"tripped": False, "reason": "", "ts_ms": 0}})
    journal.record(kill(6, "operator: pause"))
    journal.record(JournalEvent(BOT, "resume", 7_000, {}, None, 7))
    journal.record(kill(8, "drawdown 31%", source="rule"))
    journal.record(kill(9, "operator: again"))            # tripped already: the first reason stays

    recovered = recover(BOT, snapshots, journal)

    assert recovered.latch_after == {"tripped": True, "reason": "drawdown 31%", "ts_ms": 8_000, "resets": 1}
    # The snapshot's own latch holds the resume only: a sim bot re-runs the rule's kill.
    assert recovered.state["kill_switch"] == {"tripped": False, "reason": "", "ts_ms": 0, "resets": 1}


def test_a_kill_with_no_snapshot_is_the_latch_and_none_journalled_leaves_it_alone(snapshots, journal):
    assert recover(BOT, snapshots, journal).latch_after is None
    journal.record(kill(3, "operator: stop it"))

    assert recover(BOT, snapshots, journal).latch_after == {"tripped": True, "reason": "operator: stop it",
                                                            "ts_ms": 3_000}
