"""The SQLite journal's WAL goes back into the database on a thread of its own, never in a commit."""

from __future__ import annotations

import time

from execution.models import Order, Side, order_to_dict
from runner.state import journal as journal_module
from runner.state.journal import JournalEvent, SqliteJournal

BOT = "btc-ema"


def order(n: int) -> JournalEvent:
    data = order_to_dict(Order(f"o{n}", "BTC/USDT", Side.BUY, quote_amount=100.0))
    return JournalEvent(BOT, "order", 1_000 * n, data, f"o{n}", n)


def commit_orders(journal: SqliteJournal, first: int, commits: int, per_commit: int = 5) -> int:
    n = first
    for _ in range(commits):
        for _ in range(per_commit):
            n += 1
            journal.record(order(n))
        journal.commit()
    return n


def wait_until(condition, timeout_secs: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_secs
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_commits_never_copy_the_wal_into_the_database_the_checkpointer_does(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = SqliteJournal(path)
    try:
        empty_size = path.stat().st_size
        every = journal_module._CHECKPOINT_EVERY_COMMITS
        n = commit_orders(journal, 0, every - 1, per_commit=20)
        assert path.stat().st_size == empty_size         # everything is still in the WAL
        assert journal.checkpoints == 0
        commit_orders(journal, n, 1)
        wait_until(lambda: journal.checkpoints == 1)
        assert path.stat().st_size > empty_size
    finally:
        journal.close()


def test_close_leaves_every_event_in_the_database_and_no_wal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = SqliteJournal(path)
    last = commit_orders(journal, 0, journal_module._CHECKPOINT_EVERY_COMMITS + 3)
    journal.close()

    assert not (tmp_path / "journal.sqlite3-wal").exists()
    reopened = SqliteJournal(path)
    try:
        events = reopened.events(BOT)
        assert [e.key for e in events] == [f"o{n}" for n in range(1, last + 1)]
    finally:
        reopened.close()


def test_a_journal_closed_before_its_first_checkpoint_leaves_no_wal(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    commit_orders(journal, 0, 3)
    journal.close()

    assert journal.checkpoints == 0
    assert not (tmp_path / "journal.sqlite3-wal").exists()
