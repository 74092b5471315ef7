"""The dashboard's feed: one sample for every viewer, changed cells only, slow viewers cut off,
equity history seeded from the journal's fills."""

from __future__ import annotations

import json

from runner.control.live_feed import FIELDS, DashboardFeed
from runner.state.journal import JournalEvent, SqliteJournal
from tests.fakes import FakeManager, make_status


def events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def manager_of(*statuses):
    return FakeManager(list(statuses))


def test_the_snapshot_has_every_bot_as_a_row_of_the_named_fields():
    feed = DashboardFeed(manager_of(make_status("a", "running", equity=1010.123), make_status("b")).dashboard_samples)

    [(name, data)] = events(feed.snapshot_event())

    assert name == "snapshot" and data["fields"] == list(FIELDS)
    rows = {row[0]: dict(zip(FIELDS, row)) for row in data["rows"]}
    assert set(rows) == {"a", "b"}
    assert (rows["a"]["state"], rows["a"]["equity"]) == ("running", 1010.12)


def test_a_delta_carries_only_the_cells_that_changed():
    manager = manager_of(make_status("a", "running"), make_status("b", "running"))
    feed = DashboardFeed(manager.dashboard_samples)
    feed.sample()
    with feed.subscribe() as inbox:
        manager.bots["a"] = make_status("a", "killed", kill_reason="by hand")
        manager.bots["c"] = make_status("c")
        del manager.bots["b"]
        feed.sample()
        feed.sample()                         # nothing changed since: nothing sent
        [(name, data)] = events(inbox.get_nowait())
        assert inbox.empty()

    assert name == "delta"
    assert data["changed"]["a"] == [[FIELDS.index("state"), "killed"], [FIELDS.index("problem"), "by hand"]]
    assert len(data["changed"]["c"]) == len(FIELDS)        # a new bot comes whole
    assert data["removed"] == ["b"]


def test_a_viewer_that_falls_behind_is_disconnected_instead_of_buffered():
    manager = manager_of(make_status("a", "running"))
    feed = DashboardFeed(manager.dashboard_samples, inbox_events=4)
    feed.sample()
    with feed.subscribe() as slow, feed.subscribe() as keeping_up:
        for bars in range(1, 10):
            manager.bots["a"] = make_status("a", "running", equity=1000.0 + bars)
            feed.sample()
            while not keeping_up.empty():
                assert keeping_up.get_nowait() is not None
        backlog = [slow.get_nowait() for _ in range(slow.qsize())]

        assert backlog[-1] is None and all(m is not None for m in backlog[:-1])
        assert (feed.viewers, feed.dropped_viewers) == (1, 1)


def test_close_tells_every_viewer_to_disconnect():
    feed = DashboardFeed(manager_of(make_status("a")).dashboard_samples)
    with feed.subscribe() as inbox:
        feed.close()
        assert inbox.get_nowait() is None


def test_equity_history_starts_from_the_journalled_fills_then_follows_the_candles(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    for ts_ms, cash, position, price in [(60_000, 500.0, 0.01, 50_000.0), (120_000, 1020.0, 0.0, 52_000.0)]:
        journal.record(JournalEvent("a", "fill", ts_ms, {"cash": cash, "position": position, "price": price},
                                    key=f"f{ts_ms}"))
    journal.record(JournalEvent("a", "order", 120_000, {"side": "sell"}, key="o1"))
    manager = manager_of(make_status("a", "running", equity=1030.0, bars=3, last_candle_time="1970-01-01T00:03:00Z"))
    feed = DashboardFeed(manager.dashboard_samples, fills=journal)

    feed.sample()
    feed.sample()                        # the same candle again: no new point
    manager.bots["a"] = make_status("a", "running", equity=1010.0, bars=4, last_candle_time="1970-01-01T00:04:00Z")
    feed.sample()

    history = feed.history("a")
    assert history["ts_ms"] == [60_000, 120_000, 180_000, 240_000]
    assert history["equity"] == [1000.0, 1020.0, 1030.0, 1010.0]
    assert history["drawdown"][-1] == 1010.0 / 1030.0 - 1
    journal.close()
