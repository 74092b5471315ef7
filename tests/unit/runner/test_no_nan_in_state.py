"""NaN and infinity are not JSON: the journal and snapshots refuse them rather than write them."""

from __future__ import annotations

import math

import pytest

from runner.state.journal import JournalEvent, SqliteJournal
from runner.state.snapshots import encode


def test_the_journal_refuses_an_event_holding_nan(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        with pytest.raises(ValueError):
            journal.record(JournalEvent("b", "order", 0, {"quantity": math.nan}, key="b-1"))
    finally:
        journal.close()


def test_a_snapshot_holding_infinity_is_refused():
    with pytest.raises(ValueError):
        encode("b", {"cash": math.inf})
