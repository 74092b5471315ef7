"""A stop resting on the exchange that the price gaps past: triggered, its limit unfilled. A live bot
composed from its config (`execution.stop_on_exchange: true`, so the composition root's wiring too)
cancels it once a candle closes past the limit, and sells by market.

The market: flat at 30,000 up to candle 61, then 29,000 from candle 62 on. The bot buys at candle
60's close (ask 30003.00) with a 0.2% stop (29942.99) and its limit 0.5% under it (29793.28):
candle 62 opens at 29,000, past both.
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

CANDLES = [(candle_ms(i), *((30_000.0, 30_010.0, 29_990.0, 30_000.0) if i < 62 else
                            (29_000.0, 29_010.0, 28_990.0, 29_000.0)), 5.0) for i in range(70)]


@pytest.fixture
async def standin():
    async with BinanceStandIn(CANDLES, balances={"USDT": 10_000}, start_ms=candle_ms(60), fee_rate=0.001,
                              spread_bps=2) as running:
        yield running


def gap_runner(standin, account, journal, script=None):
    return stop_on_exchange_runner(standin, account, journal, bot_id="gap-bot", risk={"stake_pct": 0.1, "stop_loss_pct": 0.002}, script=script)


async def step_through(runner, feed, standin, candles: range, before=lambda i: None) -> None:
    await step_candles(CANDLES, runner, feed, standin, candles, before)


async def test_a_stop_the_price_gapped_past_is_cancelled_and_the_position_sold_by_market(standin, account):
    journal = MemoryJournal()
    runner, feed = gap_runner(standin, account, journal)
    prefix = runner.order_id_prefix
    await step_through(runner, feed, standin, range(60, 64))

    stop, sold = standin.order_by_client_id(f"{prefix}1-xs"), standin.order_by_client_id(f"{prefix}1-sl")
    assert (stop.type, stop.status, stop.executed_qty) == ("STOP_LOSS_LIMIT", "CANCELED", 0)
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert standin.order_submissions == {f"{prefix}1": 1, f"{prefix}1-xs": 1, f"{prefix}1-sl": 1}
    assert ("order", f"{prefix}1-xs") in [(e.kind, e.key) for e in journal.events]    # its intent, journalled
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []


async def test_a_gap_exit_that_never_reached_the_exchange_leaves_a_bot_stop_that_sells_at_the_next_candle(
        standin, account):
    journal = MemoryJournal()
    runner, feed = gap_runner(standin, account, journal)
    prefix = runner.order_id_prefix

    def exit_not_processed(i: int) -> None:
        if i == 62:                     # the candle closing past the limit: its market exit gets a 503
            standin.fail_next("POST /api/v3/order", status=503)

    await step_through(runner, feed, standin, range(60, 65), before=exit_not_processed)

    # Not found twice past the grace at candle 63: a bot-managed stop at the exchange stop's level
    # is armed in its place, 63 reaches it, and a new exit sells (before: nothing protected the position).
    assert standin.order_by_client_id(f"{prefix}1-sl") is None
    sold = standin.order_by_client_id(f"{prefix}1-sl2")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert [o.side for o in standin.orders] == ["BUY", "SELL", "SELL"]      # the entry, its stop (cancelled), the exit
    sells = [e.data for e in journal.events if e.kind == "fill" and e.data["side"] == "sell"]
    assert [(f["order_id"], f["reason"]) for f in sells] == [(f"{prefix}1-sl2", "stop_loss")]   # booked once
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []


async def test_a_gap_exit_the_book_filled_in_part_leaves_a_bot_stop_for_the_rest_that_sells_it_at_the_next_candle(
        standin, account):
    journal = MemoryJournal()
    runner, feed = gap_runner(standin, account, journal)
    prefix = runner.order_id_prefix

    def thin_book(i: int) -> None:
        if i == 62:                     # the gap exit finds 40% of itself on the book; Binance expires the rest
            standin.partial_fill_next("0.4")

    await step_through(runner, feed, standin, range(60, 65), before=thin_book)

    part, rest = standin.order_by_client_id(f"{prefix}1-sl"), standin.order_by_client_id(f"{prefix}1-sl2")
    assert (part.type, part.status) == ("MARKET", "EXPIRED") and (rest.type, rest.status) == ("MARKET", "FILLED")
    assert rest.executed_qty == part.orig_qty - part.executed_qty       # the rest, sold once
    sells = [e.data for e in journal.events if e.kind == "fill" and e.data["side"] == "sell"]
    assert [f["order_id"] for f in sells] == [f"{prefix}1-sl", f"{prefix}1-sl2"]
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []


async def test_a_gap_exit_filled_in_part_before_a_crash_leaves_a_bot_stop_for_the_rest_after_the_restart(
        standin, account, tmp_path):
    """The gap exit's part fill is journalled, then the process dies before a snapshot: the one on
    disk is from candle 61, with the stop resting on the exchange. Before, the restart dropped
    the entry's exits for that fill, and nothing protected or sold the rest."""
    journal, snapshots = SqliteJournal(tmp_path / "journal.sqlite3"), SnapshotStore(tmp_path / "bots")
    try:
        bot_journal = journal.for_bot("gap-bot")
        first, feed = gap_runner(standin, account, bot_journal)
        prefix = first.order_id_prefix
        await step_through(first, feed, standin, range(60, 62))
        snapshots.write("gap-bot", {**first.snapshot(), "journal_seq": journal.last_seq("gap-bot")})
        journal.commit()

        def thin_book(i: int) -> None:
            standin.partial_fill_next("0.4")        # the gap exit finds 40% of itself on the book

        await step_through(first, feed, standin, range(62, 63), before=thin_book)
        journal.commit()
        part = standin.order_by_client_id(f"{prefix}1-sl")
        assert part.status == "EXPIRED" and 0 < part.executed_qty < part.orig_qty

        second, feed = gap_runner(standin, account, bot_journal, script={})
        restore_from_journal(second, recover("gap-bot", snapshots, bot_journal), bot_journal)
        await step_through(second, feed, standin, range(63, 66))
        sells = [(e.data["order_id"], e.data["quantity"]) for e in bot_journal.events(kinds=("fill",))
                 if e.data["side"] == "sell"]
    finally:
        journal.close()

    rest = standin.order_by_client_id(f"{prefix}1-sl2")
    assert (rest.type, rest.status) == ("MARKET", "FILLED")                    # before: never sent
    assert rest.executed_qty == part.orig_qty - part.executed_qty               # the rest, sold once
    assert sells == [(f"{prefix}1-sl", float(part.executed_qty)), (f"{prefix}1-sl2", float(rest.executed_qty))]
    assert standin.order_submissions == {f"{prefix}1": 1, f"{prefix}1-xs": 1, f"{prefix}1-sl": 1, f"{prefix}1-sl2": 1}
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert second.portfolio.quantity < 1e-5 and second.execution.open_orders() == []
