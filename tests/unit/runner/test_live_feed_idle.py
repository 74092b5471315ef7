"""The dashboard's feed reads the bots only while a dashboard is open, and a viewer who comes
back gets the bots as they are now, with the fills made while nobody watched."""

from __future__ import annotations

import asyncio

from runner.control.live_feed import DashboardFeed
from runner.state.journal import JournalEvent, SqliteJournal
from tests.fakes import FakeManager, eventually, make_status


class CountingManager(FakeManager):
    def __init__(self, statuses) -> None:
        super().__init__(statuses)
        self.reads = 0

    def dashboard_samples(self):
        self.reads += 1
        return super().dashboard_samples()


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_feed_samples_only_while_a_viewer_is_connected():
    manager = CountingManager([make_status("a", "running")])
    feed = DashboardFeed(manager.dashboard_samples, interval_secs=0)    # a tick at every loop turn
    running = asyncio.create_task(feed.run())
    try:
        await turns(20)
        assert manager.reads == 0                       # nobody watching: the bots are not read

        with feed.subscribe():
            await eventually(lambda: manager.reads >= 5)

        await turns(2)                                  # a tick already under way may finish
        after_leaving = manager.reads
        await turns(20)
        assert manager.reads == after_leaving           # the last viewer left: sampling stopped

        with feed.subscribe():
            await eventually(lambda: manager.reads >= after_leaving + 5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_viewer_coming_back_gets_a_fresh_snapshot_and_the_fills_made_meanwhile(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    manager = FakeManager([make_status("a", "running", equity=1000.0, bars=1, last_candle_time="1970-01-01T00:01:00Z")])
    feed = DashboardFeed(manager.dashboard_samples, fills=journal)
    with feed.subscribe():
        feed.snapshot_event()
    # While nobody watches: a fill, then two candles later the bot is at 1040.
    journal.record(JournalEvent("a", "fill", 120_000, {"cash": 0.0, "position": 0.02, "price": 51_000.0}, key="f1"))
    manager.bots["a"] = make_status("a", "running", equity=1040.0, bars=3, last_candle_time="1970-01-01T00:03:00Z")

    with feed.subscribe():
        snapshot = feed.snapshot_event()

    assert b"1040.0" in snapshot
    assert feed.history("a")["ts_ms"] == [60_000, 120_000, 180_000]
    assert feed.history("a")["equity"] == [1000.0, 1020.0, 1040.0]
    journal.close()
