"""The journal and the snapshot files, on real files."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from runner.state.journal import JournalConflict, JournalEvent, SqliteJournal
from runner.state.snapshots import CorruptSnapshot, SnapshotStore
from runner.state.state_dir import StateFileUnreadable
from tests.named_pipes import named_pipe


@pytest.fixture
def journal(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


def fill(key="b-1", price=100.0):
    return JournalEvent("b", "fill", 60_000, {"price": price, "quantity": 1.0}, key=key, bar=3)


def test_journal_is_in_wal_mode_and_reads_back_in_order(journal):
    assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    journal.record(JournalEvent("b", "lifecycle", 1, {"state": "running"}))
    journal.record(fill())
    journal.record(JournalEvent("other", "lifecycle", 2, {}))
    events = journal.events("b")
    assert [(e.kind, e.key, e.bar) for e in events] == [("lifecycle", None, -1), ("fill", "b-1", 3)]
    assert events[1].data == {"price": 100.0, "quantity": 1.0}
    assert journal.events("b", after_seq=events[0].seq) == [events[1]]
    assert journal.last_seq("b") == events[1].seq


def test_an_event_rewritten_under_its_key_is_stored_once(journal):
    first = journal.record(fill())
    assert journal.record(fill()) == first
    assert len(journal.events("b", kinds=("fill",))) == 1


def test_an_event_rewritten_with_other_values_is_a_conflict(journal):
    journal.record(fill())
    with pytest.raises(JournalConflict, match="journal already holds fill b-1 of bot b"):
        journal.record(fill(price=101.0))


def test_events_without_a_key_are_all_kept(journal):
    for _ in range(3):
        journal.record(JournalEvent("b", "lifecycle", 1, {"state": "running"}))
    assert len(journal.events("b")) == 3


def test_journal_survives_reopening(tmp_path):
    path = tmp_path / "j.sqlite3"
    first = SqliteJournal(path)
    first.record(fill())
    first.close()
    again = SqliteJournal(path)
    assert [e.key for e in again.events("b")] == ["b-1"]
    again.close()


def test_snapshot_round_trips_exactly(tmp_path):
    store = SnapshotStore(tmp_path)
    state = {"bars": 12, "cash": 0.1 + 0.2, "nested": {"list": [1, 2.5, None]}}
    store.write("bot-a", state)
    assert store.read("bot-a") == state
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_snapshot_reads_as_none(tmp_path):
    assert SnapshotStore(tmp_path).read("never") is None


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "not a valid snapshot"),
    (lambda raw: raw.replace(b'"bars":12', b'"bars":13'), "checksum mismatch"),
    (lambda raw: b"", "not a valid snapshot"),
])
def test_damaged_snapshot_is_detected_not_trusted(tmp_path, damage, message):
    store = SnapshotStore(tmp_path)
    store.write("bot-a", {"bars": 12})
    path = store.path("bot-a")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptSnapshot, match=message):
        store.read("bot-a")


def test_a_snapshot_that_is_a_named_pipe_or_a_folder_is_damaged_not_waited_on(tmp_path):
    # Before: a pipe held the daemon at start for good (SIGTERM too: the loop never turned), and
    # a folder crashed the bot max_restarts times (IsADirectoryError). As damaged, recovery moves
    # it aside and rebuilds the bot from the journal.
    store = SnapshotStore(tmp_path)
    store.path("folder").mkdir()
    with named_pipe(store.path("pipe")):
        with pytest.raises(CorruptSnapshot) as pipe:
            store.read("pipe")
    with pytest.raises(CorruptSnapshot) as folder:
        store.read("folder")

    assert str(pipe.value) == f"{store.path('pipe')}: is a named pipe (FIFO), not a snapshot file"
    assert str(folder.value) == f"{store.path('folder')}: is a folder, not a snapshot file"


def test_a_journal_that_is_a_named_pipe_is_unreadable_in_one_line(tmp_path):
    # Before: sqlite3's 'disk I/O error', a traceback from botrunner run.
    with named_pipe(tmp_path / "journal.sqlite3") as path:
        with pytest.raises(StateFileUnreadable) as refused:
            SqliteJournal(path)

    assert str(refused.value) == (f"{path}: not a journal the daemon can read (it is a named pipe (FIFO), not a "
                                  "file); it holds the bots' orders, fills and kills: restore it, or move it away "
                                  "to start afresh")


def test_snapshot_of_another_bot_is_refused(tmp_path):
    store = SnapshotStore(tmp_path)
    store.write("bot-a", {"bars": 1})
    store.path("bot-a").rename(store.path("bot-b"))
    with pytest.raises(CorruptSnapshot, match="holds bot 'bot-a'"):
        store.read("bot-b")


def test_snapshot_file_is_plain_json_with_a_checksum(tmp_path):
    store = SnapshotStore(tmp_path)
    store.write("bot-a", {"bars": 1})
    document = json.loads(store.path("bot-a").read_text())
    assert set(document) == {"version", "bot_id", "sha256", "state"}


async def test_intents_journalled_in_one_loop_turn_share_one_commit_and_are_durable_before_it_returns(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    commits = []
    journal._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

    async def bot(i: int) -> int:
        journal.record(JournalEvent(f"bot-{i}", "order", 1_000, {"i": i}, key=f"b{i}-1"))
        await journal.group_commit()
        # Another process (the next daemon after a crash, `botrunner journal`) sees it now.
        reader = sqlite3.connect(tmp_path / "journal.sqlite3")
        try:
            return reader.execute("SELECT COUNT(*) FROM events WHERE bot_id = ?", (f"bot-{i}",)).fetchone()[0]
        finally:
            reader.close()

    seen = await asyncio.gather(*(bot(i) for i in range(40)))
    assert seen == [1] * 40
    assert commits == ["COMMIT"]
    journal.close()
