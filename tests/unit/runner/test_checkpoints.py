"""Snapshots go to the writer once per loop turn, after one journal commit that covers them."""

from __future__ import annotations

import asyncio
import json

import pytest

from runner.daemon.checkpoints import Checkpoints


class RecordingWriter:
    """Stands in for SnapshotWriter: records each hand-over and how many commits preceded it."""

    def __init__(self, commits: list[str]) -> None:
        self.commits = commits
        self.handed: list[tuple[int, list[str]]] = []
        self.flushed: list[str | None] = []
        self.closed = False

    def submit_encoded_many(self, documents: dict[str, bytes]) -> None:
        self.handed.append((len(self.commits), sorted(documents)))
        self.documents = documents

    async def aflush(self, bot_id: str | None = None) -> None:
        self.flushed.append(bot_id)

    def close(self) -> None:
        self.closed = True


async def test_snapshots_of_one_loop_turn_share_one_commit_made_before_they_reach_the_writer():
    commits: list[str] = []
    writer = RecordingWriter(commits)
    checkpoints = Checkpoints(writer, [lambda: commits.append("journal"), lambda: commits.append("forecasts")])
    for bot, bars in (("a", 1), ("b", 1), ("a", 2)):
        checkpoints.submit(bot, {"bars": bars})
    assert writer.handed == []                       # held until the turn ends
    await asyncio.sleep(0)
    assert writer.handed == [(2, ["a", "b"])] and commits == ["journal", "forecasts"]
    assert json.loads(writer.documents["a"])["state"] == {"bars": 2}     # a bot's latest state wins
    checkpoints.submit("c", {"bars": 1})
    await asyncio.sleep(0)
    assert writer.handed[-1] == (4, ["c"])


async def test_a_failed_commit_writes_nothing_and_stops_each_held_bot_at_its_next_checkpoint():
    writer = RecordingWriter([])

    def disk_full() -> None:
        raise OSError("database or disk is full")

    checkpoints = Checkpoints(writer, [disk_full])
    checkpoints.submit("a", {"bars": 1})
    await asyncio.sleep(0)
    assert writer.handed == []
    with pytest.raises(OSError, match="disk is full"):
        checkpoints.submit("a", {"bars": 2})
    checkpoints.submit("other", {"bars": 1})         # not in the failed batch: held as usual


async def test_a_flush_hands_over_at_once_and_waits_for_the_writer():
    commits: list[str] = []
    writer = RecordingWriter(commits)
    checkpoints = Checkpoints(writer, [lambda: commits.append("journal")])
    checkpoints.submit("a", {"bars": 1})
    await checkpoints.aflush("a")
    assert writer.handed == [(1, ["a"])] and writer.flushed == ["a"]
    checkpoints.submit("b", {"bars": 1})
    checkpoints.close()
    assert writer.handed[-1] == (2, ["b"]) and writer.closed
