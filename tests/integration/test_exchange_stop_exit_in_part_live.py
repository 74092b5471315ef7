"""A take-profit exit of a bot whose stop rests on the exchange (`execution.stop_on_exchange`)
that sells only part of the position (or never reaches the exchange): the exit cancelled the
stop first, so the rest gets it back, on the exchange again (`-xs2`) or, when the price is
already past it, bot-managed at the same level (`-sl2`). Before, only the take-profit came back
(`-tp2`): the rest had no stop.

The market: flat at 30,000 up to candle 61, 30,100 at candle 62 (reaching the take-profit),
then 29,900 from candle 63 on (past the stop, above its limit). The bot buys at candle 60's close
(ask 30003.00) with a 0.2% stop (29942.99, limit 0.5% under it: 29793.28) and a 0.3% take-profit
(30093.01).
"""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn
from runner.assembly.reconcile_on_start import restore_from_journal
from runner.state.journal import MemoryJournal, SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from tests.integration.exchange_stop_runners import step_candles, stop_on_exchange_runner
from tests.unit.exchange_standin.sample_market import candle_ms


def level(i: int) -> float:
    return 30_000.0 if i < 62 else 30_100.0 if i == 62 else 29_900.0


CANDLES = [(candle_ms(i), level(i), level(i) + 10, level(i) - 10, level(i), 5.0) for i in range(70)]


@pytest.fixture
async def standin():
    async with BinanceStandIn(CANDLES, balances={"USDT": 10_000}, start_ms=candle_ms(60), fee_rate=0.001,
                              spread_bps=2) as running:
        yield running


def take_profit_runner(standin, account, journal, script=None):
    return stop_on_exchange_runner(standin, account, journal, bot_id="tp-bot", risk={"stake_pct": 0.1, "stop_loss_pct": 0.002, "take_profit_pct": 0.003}, script=script)


async def step_through(runner, feed, standin, candles: range, before=lambda i: None) -> None:
    await step_candles(CANDLES, runner, feed, standin, candles, before)


def sells_booked(journal) -> list[tuple[str, float]]:
    return [(e.data["order_id"], e.data["quantity"]) for e in journal.events
            if e.kind == "fill" and e.data["side"] == "sell"]


def sells_traded(standin) -> list[tuple[str, float]]:
    """The stand-in's sell trades, by client order id."""
    client_ids = {o.order_id: o.client_order_id for o in standin.orders}
    return [(client_ids[t.order_id], float(t.qty)) for t in standin.trades if not t.is_buyer]


def assert_flat_as_the_account(runner, standin) -> None:
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []


async def test_a_take_profit_exit_filled_in_part_puts_the_stop_back_on_the_exchange_for_the_rest(standin, account):
    journal = MemoryJournal()
    runner, feed = take_profit_runner(standin, account, journal)
    prefix = runner.order_id_prefix

    def thin_book(i: int) -> None:
        if i == 62:                     # the take-profit's exit finds 40% of itself on the book
            standin.partial_fill_next("0.4")

    await step_through(runner, feed, standin, range(60, 66), before=thin_book)

    first, part = standin.order_by_client_id(f"{prefix}1-xs"), standin.order_by_client_id(f"{prefix}1-tp")
    again = standin.order_by_client_id(f"{prefix}1-xs2")
    assert (first.status, first.executed_qty) == ("CANCELED", 0)            # cancelled before the exit
    assert (part.type, part.status) == ("MARKET", "EXPIRED") and 0 < part.executed_qty < part.orig_qty
    # Before: no -xs2; the price fell past the stop and nothing sold the rest.
    assert (again.type, again.status) == ("STOP_LOSS_LIMIT", "FILLED")
    assert (again.stop_price, again.orig_qty) == (first.stop_price, part.orig_qty - part.executed_qty)
    assert ("order", f"{prefix}1-xs2") in [(e.kind, e.key) for e in journal.events]    # its intent, journalled
    assert sells_booked(journal) == [(f"{prefix}1-tp", float(part.executed_qty)),
                                     (f"{prefix}1-xs2", float(again.executed_qty))]     # the rest, sold once
    assert sells_traded(standin) == sells_booked(journal)
    assert_flat_as_the_account(runner, standin)


async def test_a_take_profit_exit_found_in_part_after_the_price_fell_past_the_stop_leaves_a_bot_stop_that_sells(
        standin, account):
    """The exit's answer is lost (a 503 after processing) and its first lookup fails: the one at candle 63 finds it
    expired in part, when the price (29,900) is past the stop: the exchange refuses the stop for
    the rest (-2010, it would trigger immediately), so it is bot-managed at the same level and
    candle 64 sells the rest by market."""
    journal = MemoryJournal()
    runner, feed = take_profit_runner(standin, account, journal)
    prefix = runner.order_id_prefix

    def thin_book_and_lost_answer(i: int) -> None:
        if i == 62:
            standin.partial_fill_next("0.4")
            standin.fail_after_processing_next("POST /api/v3/order")
            standin.fail_next("GET /api/v3/time", status=503, times=4)   # its first lookup fails: found at 63

    await step_through(runner, feed, standin, range(60, 66), before=thin_book_and_lost_answer)

    part = standin.order_by_client_id(f"{prefix}1-tp")
    assert (part.type, part.status) == ("MARKET", "EXPIRED") and 0 < part.executed_qty < part.orig_qty
    assert standin.order_by_client_id(f"{prefix}1-xs2") is None             # refused: past the stop
    rest = standin.order_by_client_id(f"{prefix}1-sl2")
    # Before: never sent; the rest stayed open with no stop.
    assert (rest.type, rest.status, rest.executed_qty) == ("MARKET", "FILLED", part.orig_qty - part.executed_qty)
    assert sells_booked(journal) == [(f"{prefix}1-tp", float(part.executed_qty)),
                                     (f"{prefix}1-sl2", float(rest.executed_qty))]
    assert sells_traded(standin) == sells_booked(journal)
    assert_flat_as_the_account(runner, standin)


async def test_a_take_profit_exit_that_never_reached_the_exchange_gives_the_position_its_stop_back(standin, account):
    """The exit's POST gets a 503 unprocessed: proven never placed at candle 63, its take-profit
    comes back as -tp2 and its stop too (before: no stop), bot-managed since the price is past
    it by then; candle 64 sells the whole position once."""
    journal = MemoryJournal()
    runner, feed = take_profit_runner(standin, account, journal)
    prefix = runner.order_id_prefix

    def exit_not_processed(i: int) -> None:
        if i == 62:
            standin.fail_next("POST /api/v3/order", status=503)

    await step_through(runner, feed, standin, range(60, 66), before=exit_not_processed)

    assert standin.order_by_client_id(f"{prefix}1-tp") is None
    assert standin.order_by_client_id(f"{prefix}1-xs").status == "CANCELED"
    sold = standin.order_by_client_id(f"{prefix}1-sl2")
    assert (sold.type, sold.status) == ("MARKET", "FILLED")
    assert sells_booked(journal) == [(f"{prefix}1-sl2", float(sold.executed_qty))] == sells_traded(standin)
    assert_flat_as_the_account(runner, standin)


async def test_a_take_profit_exit_filled_in_part_before_a_crash_leaves_the_rest_its_stop_on_the_exchange(
        standin, account, tmp_path):
    """The exit's part fill and the put-back stop's intent are journalled, then the process dies
    before a snapshot: the one on disk is from candle 61, with the first stop resting. The
    restart follows `-xs2` by its client order id, and it sells the rest when the price falls."""
    journal, snapshots = SqliteJournal(tmp_path / "journal.sqlite3"), SnapshotStore(tmp_path / "bots")
    try:
        bot_journal = journal.for_bot("tp-bot")
        first, feed = take_profit_runner(standin, account, bot_journal)
        prefix = first.order_id_prefix
        await step_through(first, feed, standin, range(60, 62))
        snapshots.write("tp-bot", {**first.snapshot(), "journal_seq": journal.last_seq("tp-bot")})
        journal.commit()
        await step_through(first, feed, standin, range(62, 63), before=lambda i: standin.partial_fill_next("0.4"))
        journal.commit()

        second, feed = take_profit_runner(standin, account, bot_journal, script={})
        restore_from_journal(second, recover("tp-bot", snapshots, bot_journal), bot_journal)
        await step_through(second, feed, standin, range(63, 66))
        sells = [(e.data["order_id"], e.data["quantity"]) for e in bot_journal.events(kinds=("fill",))
                 if e.data["side"] == "sell"]
    finally:
        journal.close()

    part, again = standin.order_by_client_id(f"{prefix}1-tp"), standin.order_by_client_id(f"{prefix}1-xs2")
    assert (part.status, again.status) == ("EXPIRED", "FILLED")         # before: no -xs2, the rest held on
    assert again.executed_qty == part.orig_qty - part.executed_qty       # the rest, sold once
    assert sells == [(f"{prefix}1-tp", float(part.executed_qty)), (f"{prefix}1-xs2", float(again.executed_qty))]
    assert sells_traded(standin) == sells
    assert standin.order_submissions == {f"{prefix}1": 1, f"{prefix}1-xs": 1, f"{prefix}1-tp": 1, f"{prefix}1-xs2": 1}
    assert_flat_as_the_account(second, standin)
