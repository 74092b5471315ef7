"""A journal deleted under the running daemon is noticed and reported, not silently lost."""

from __future__ import annotations

from runner.daemon.process import JournalWatch
from runner.state.journal import SqliteJournal


def test_a_deleted_journal_is_noticed_and_named_in_the_health_problems(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        watch = JournalWatch(journal.path)
        assert not watch.check() and watch.problems() == []
        journal.path.unlink()
        assert watch.check()
        assert "journal.sqlite3 was deleted or replaced" in watch.problems()[0]
    finally:
        journal.close()


def test_a_journal_replaced_by_another_file_is_noticed(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        watch = JournalWatch(journal.path)
        journal.path.rename(tmp_path / "moved")
        (tmp_path / "journal.sqlite3").write_bytes(b"")
        assert watch.check()
    finally:
        journal.close()
