"""A basket leg's fill written again after a restart (`rewritten_alike`): its cash is the basket's,
which the re-run cannot give again, so it is compared without it; everything else of the fill,
and every fill of a plain bot, still has to match."""

from __future__ import annotations

import pytest

from runner.state.journal import JournalConflict, JournalEvent, SqliteJournal


@pytest.fixture
def journal(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


def fill(bot_id: str, *, cash: float, flow: float | None = None, price: float = 100.0) -> JournalEvent:
    data = {"order_id": "o-1", "symbol": "BTC/USDT", "side": "buy", "quantity": 15.0, "price": price, "fee": 1.5,
            "cash": cash, "position": 15.0}
    if flow is not None:
        data["flow"] = flow
    return JournalEvent(bot_id, "fill", 60_000, data, key="o-1")


def test_a_legs_fill_re_run_on_another_basket_cash_is_the_one_journalled(journal):
    first = journal.record(fill("trio.btc-usdt", cash=8_232.38, flow=-1_501.5))
    # The other legs were elsewhere at the re-run; the leg's flow, a difference of that cash, in its last bits.
    assert journal.record(fill("trio.btc-usdt", cash=8_299.02, flow=-1_501.5000000000002)) == first
    assert [e.data["cash"] for e in journal.events("trio.btc-usdt", kinds=("fill",))] == [8_232.38]


def test_a_legs_fill_journalled_before_legs_carried_their_flow_is_compared_without_the_cash(journal):
    first = journal.record(fill("trio.btc-usdt", cash=8_232.38))
    assert journal.record(fill("trio.btc-usdt", cash=8_299.02, flow=-1_501.5)) == first


def test_a_legs_fill_at_another_price_is_still_a_conflict(journal):
    journal.record(fill("trio.btc-usdt", cash=8_232.38, flow=-1_501.5))
    with pytest.raises(JournalConflict, match="journal already holds fill o-1 of bot trio.btc-usdt"):
        journal.record(fill("trio.btc-usdt", cash=8_232.38, flow=-1_501.5, price=100.5))


def test_a_plain_bots_fill_with_other_cash_is_still_a_conflict(journal):
    journal.record(fill("btc", cash=8_500.0))
    with pytest.raises(JournalConflict, match="journal already holds fill o-1 of bot btc"):
        journal.record(fill("btc", cash=8_499.0))
