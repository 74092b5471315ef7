"""What a basket leg's restart reads of its journal (`journal_past_snapshot`): its events past the
last order its snapshot holds, on a real SQLite journal, and the candles its journal covers."""

from __future__ import annotations

from execution.order_ids import client_order_id, order_id_prefix
from runner.bot.journal_follow import journal_past_snapshot
from runner.state.journal import JournalEvent, SqliteJournal

LEG = "trio.btc-usdt"
PREFIX = order_id_prefix(LEG)


def journalled(tmp_path, orders: int) -> SqliteJournal:
    """Order n decided on candle 10n, filled on the next; a refusal on candle 10n + 5; a stop at 10 * orders + 8."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    leg = journal.for_bot(LEG)
    for n in range(1, orders + 1):
        order_id = client_order_id(PREFIX, n)
        leg.record(JournalEvent(LEG, "order", n, {"order_id": order_id}, order_id, 10 * n))
        leg.record(JournalEvent(LEG, "fill", n, {"order_id": order_id}, order_id, 10 * n))
        leg.record(JournalEvent(LEG, "risk", n, {"rule": "risk_group:trio"}, None, 10 * n + 5))
    leg.record(JournalEvent(LEG, "lifecycle", 0, {"state": "stopped"}, None, 10 * orders + 8))
    return journal


def test_only_the_orders_past_the_last_one_the_snapshot_holds_are_read(tmp_path):
    journal = journalled(tmp_path, 6)
    leg = journal.for_bot(LEG)
    leg.record(JournalEvent(LEG, "order", 5, {"order_id": client_order_id(PREFIX, 5)}, client_order_id(PREFIX, 5), 50))

    orders, covered = journal_past_snapshot(leg, PREFIX, 4)      # order 5 re-written: it keeps its place

    assert [(bar, data["order_id"]) for bar, data in orders] == [(50, client_order_id(PREFIX, 5)),
                                                                 (60, client_order_id(PREFIX, 6))]
    assert covered == 69                 # the stop after candle 68
    journal.close()


def test_the_candles_covered_end_with_the_last_event_of_any_kind(tmp_path):
    journal = journalled(tmp_path, 2)
    leg = journal.for_bot(LEG)
    leg.record(JournalEvent(LEG, "fill", 3, {"order_id": "sl"}, f"{client_order_id(PREFIX, 2)}-sl", 40))

    assert journal_past_snapshot(leg, PREFIX, 2)[1] == 42         # a stop-loss filled on candle 41
    journal.close()


def test_without_the_snapshots_last_order_in_the_journal_every_order_is_read(tmp_path):
    journal = journalled(tmp_path, 3)

    assert len(journal_past_snapshot(journal.for_bot(LEG), PREFIX, 9)[0]) == 3
    assert len(journal_past_snapshot(journal.for_bot(LEG), PREFIX, 0)[0]) == 3
    assert journal_past_snapshot(journal.for_bot("trio.eth-usdt"), PREFIX, 0) == ([], 0)
    journal.close()
