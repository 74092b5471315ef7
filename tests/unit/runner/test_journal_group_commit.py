"""The journal's group commit: every caller of one loop turn waits for the same COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from runner.state.journal import JournalEvent, SqliteJournal


def intent(i: int) -> JournalEvent:
    return JournalEvent(f"bot-{i}", "order", 1_000, {"i": i}, key=f"b{i}-1")


async def test_a_caller_cancelled_while_waiting_leaves_the_others_their_commit(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        for i in range(3):
            journal.record(intent(i))
        waiting = [asyncio.ensure_future(journal.group_commit()) for _ in range(3)]
        await asyncio.sleep(0)                  # all three wait now; the commit is queued behind them
        waiting[1].cancel()

        results = await asyncio.gather(*waiting, return_exceptions=True)

        assert results[0] is None and results[2] is None
        assert isinstance(results[1], asyncio.CancelledError)
        reader = sqlite3.connect(tmp_path / "journal.sqlite3")
        try:
            assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3
        finally:
            reader.close()
    finally:
        journal.close()


class DiskFullOnce(SqliteJournal):
    """A journal whose next COMMIT fails as a full disk makes it fail."""

    fail_next = True

    def commit(self) -> None:
        if self.fail_next:
            self.fail_next = False
            raise sqlite3.OperationalError("database or disk is full")
        super().commit()


async def test_a_failed_commit_is_raised_to_every_caller_of_the_turn(tmp_path):
    journal = DiskFullOnce(tmp_path / "journal.sqlite3")
    try:
        journal.record(intent(0))

        results = await asyncio.gather(*(journal.group_commit() for _ in range(3)), return_exceptions=True)

        assert [str(r) for r in results] == ["database or disk is full"] * 3
        await journal.group_commit()            # the next turn commits
        assert journal.events("bot-0")[0].key == "b0-1"
    finally:
        journal.close()


@pytest.mark.parametrize("callers", [1, 40])
async def test_callers_of_one_turn_return_once_their_intents_are_committed(tmp_path, callers):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    commits = []
    journal._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    try:
        async def bot(i: int) -> None:
            journal.record(intent(i))
            await journal.group_commit()

        await asyncio.gather(*(bot(i) for i in range(callers)))

        assert commits == ["COMMIT"]
    finally:
        journal.close()
