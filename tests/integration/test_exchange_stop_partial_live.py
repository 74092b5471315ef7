"""A stop resting on the exchange (`stop_on_exchange`) that fills in part, then is cancelled: by
the bot's own exit, by a person on the exchange, or while the daemon is down. The bot books
exactly what the stop sold, once, and the rest of the position is sold or keeps a stop.

The market: flat at 30,000 up to candle 61. The bot buys 0.00333 at candle 60's close (ask
30003.00); the account holds 0.00332667 after the fee in BTC, so its stop sells 0.00332 at
stop 29942.99, limit 29793.28. Candle 62 trades 30000, 30010, then 29900, which triggers the
stop on a thin book (`thin_book_at_next_stop`): 40% of it, 0.00132, sells at 29900. From
candle 63 on the market trades at 29,700 (lows 29,690), under the limit: the rest of the stop
rests unfilled.
"""

from __future__ import annotations

import pytest

from execution.exchange_stop import ExchangeStopExecution
from execution.standin import BinanceStandIn
from risk.config import RiskConfig
from runner.assembly.exchange_stop import intent_journal
from runner.assembly.reconcile_on_start import reconcile_on_start, restore_from_journal
from runner.bot.clock import ManualClock
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal, SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from strategies.signal import GO_FLAT, GO_LONG
from tests.unit.exchange_standin.sample_market import candle_ms

SYMBOL, PREFIX, BOT = "BTC/USDT", "brxpart01-", "xpart-bot"
ENTRY, STOP, BOT_STOP = f"{PREFIX}1", f"{PREFIX}1-xs", f"{PREFIX}1-sl"
HELD, STOP_SOLD = 0.00332, 0.00132           # what the stop sells; what the thin book takes of it
REST = round(HELD - STOP_SOLD, 5)            # 0.002

CANDLES = [(candle_ms(i), *((30_000.0, 30_010.0, 29_990.0, 30_000.0) if i < 62 else
                            (30_000.0, 30_010.0, 29_900.0, 29_900.0) if i == 62 else
                            (29_700.0, 29_710.0, 29_690.0, 29_700.0)), 5.0) for i in range(80)]


@pytest.fixture
async def standin():
    async with BinanceStandIn(CANDLES, balances={"USDT": 10_000}, start_ms=candle_ms(60), fee_rate=0.001,
                              spread_bps=2) as running:
        yield running


@pytest.fixture
def bot(account, pushed_runners):
    """Factory: `bot(script, journal=None, before_run=None)` -> (runner, push): a live bot with a 0.2%
    stop on the exchange, running; `push(i)` opens candle i on the stand-in, hands the bot the
    closed candle i and returns once it is idle again (tests/integration/pushed_runners.py)."""
    def make(script, journal=None, before_run=None):
        journal = journal if journal is not None else MemoryJournal()
        engine = ExchangeStopExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=ManualClock(candle_ms(60)),
                                       reconcile_every_candles=0,
                                       journal_intent=intent_journal(BOT, journal, ManualClock(candle_ms(60))))
        return pushed_runners(BOT, engine, script, RiskConfig(stake_pct=0.1, stop_loss_pct=0.002), PREFIX,
                              journal=journal, before_run=before_run, candles=CANDLES)
    return make


async def stop_filled_in_part(standin, push) -> None:
    for i in (60, 61):
        await push(i)
    standin.thin_book_at_next_stop(0.4)
    await push(62)
    stop = standin.order_by_client_id(STOP)
    assert (float(stop.orig_qty), float(stop.executed_qty), [float(t.price) for t in stop.trades]) == (
        HELD, STOP_SOLD, [29_900.0])


def held_on_the_account(standin) -> float:
    return float(standin.balances["BTC"].free + standin.balances["BTC"].locked)


def fills_of(journal) -> list[tuple[str, float]]:
    return [(e.data["order_id"], e.data["quantity"]) for e in journal.of_kind("fill")]


def assert_flat_as_the_account(runner, standin) -> None:
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5
    assert runner.execution.open_orders() == []


async def test_a_stop_filled_in_part_is_booked_for_that_part_and_keeps_protecting_the_rest(bot, standin):
    runner, push = bot({0: GO_LONG})
    await stop_filled_in_part(standin, push)

    assert standin.order_by_client_id(STOP).status == "PARTIALLY_FILLED"
    assert fills_of(runner.journal)[1:] == [(STOP, STOP_SOLD)]
    assert runner.portfolio.quantity == pytest.approx(held_on_the_account(standin), abs=1e-12)
    assert [o.client_order_id for o in runner.execution.open_orders()] == [STOP]        # the rest rests on it


async def test_a_stop_filled_in_part_then_gapped_past_is_cancelled_and_only_the_rest_sold_by_market(bot, standin):
    runner, push = bot({0: GO_LONG})
    await stop_filled_in_part(standin, push)
    await push(63)                                  # closes at 29700, past the limit: cancel, then sell the rest

    stop, sold = standin.order_by_client_id(STOP), standin.order_by_client_id(BOT_STOP)
    assert (stop.status, float(stop.executed_qty)) == ("CANCELED", STOP_SOLD)
    assert (sold.type, sold.side, sold.status, float(sold.executed_qty)) == ("MARKET", "SELL", "FILLED", REST)
    assert fills_of(runner.journal)[1:] == [(STOP, STOP_SOLD), (BOT_STOP, REST)]
    assert standin.order_submissions == {ENTRY: 1, STOP: 1, BOT_STOP: 1}
    assert_flat_as_the_account(runner, standin)


async def test_an_exit_signal_after_a_stop_filled_in_part_cancels_it_and_sells_all_the_rest(bot, standin):
    runner, push = bot({0: GO_LONG, 2: GO_FLAT})
    await stop_filled_in_part(standin, push)        # candle 62: the stop's part is booked, then the exit decided

    exit_order = standin.order_by_client_id(f"{PREFIX}2")
    assert standin.order_by_client_id(STOP).status == "CANCELED"
    assert (exit_order.type, exit_order.status, float(exit_order.executed_qty)) == ("MARKET", "FILLED", REST)
    assert fills_of(runner.journal)[1:] == [(STOP, STOP_SOLD), (f"{PREFIX}2", REST)]
    assert_flat_as_the_account(runner, standin)


async def test_a_stop_filled_in_part_and_cancelled_by_hand_leaves_a_bot_stop_for_the_rest(bot, account, standin):
    runner, push = bot({0: GO_LONG})
    await stop_filled_in_part(standin, push)
    await account.client.cancel_order(str(standin.order_by_client_id(STOP).order_id), SYMBOL)   # a person
    await push(63)

    assert [(o.client_order_id, o.quantity, o.stop_price) for o in runner.execution.open_orders()] == [
        (BOT_STOP, pytest.approx(REST, abs=1e-9), pytest.approx(29_942.99, abs=0.01))]
    await push(64)                                  # its low, 29690, reaches the bot's stop: the rest sold once
    sold = standin.order_by_client_id(BOT_STOP)
    assert (sold.type, sold.status, float(sold.executed_qty)) == ("MARKET", "FILLED", REST)
    assert fills_of(runner.journal)[1:] == [(STOP, STOP_SOLD), (BOT_STOP, REST)]
    assert standin.order_submissions == {ENTRY: 1, STOP: 1, BOT_STOP: 1}
    assert_flat_as_the_account(runner, standin)


async def test_a_kill_after_a_stop_filled_in_part_cancels_it_and_flattens_only_the_rest(bot, standin):
    runner, push = bot({0: GO_LONG})
    await stop_filled_in_part(standin, push)
    await runner.kill_now("by hand")

    flatten = standin.order_by_client_id(f"{PREFIX}2")
    assert (standin.order_by_client_id(STOP).status, float(standin.order_by_client_id(STOP).executed_qty)) == (
        "CANCELED", STOP_SOLD)
    assert (flatten.type, flatten.status, float(flatten.executed_qty)) == ("MARKET", "FILLED", REST)
    assert fills_of(runner.journal)[1:] == [(STOP, STOP_SOLD), (f"{PREFIX}2", REST)]
    assert_flat_as_the_account(runner, standin)


@pytest.mark.parametrize("while_down", ["cancelled-by-hand", "still-resting", "filled-in-part", "filled-in-part-reconciled"])
async def test_a_stop_filled_in_part_around_a_restart_is_booked_once_and_the_rest_sold_once(
        bot, account, standin, tmp_path, while_down):
    """Snapshot after candle 62 (the stop's part booked), then cancelled by hand or left resting
    while the daemon is down; or snapshot after candle 61 and the stop fills in part while the
    daemon is down, found by the lookup of the restored stop or adopted by the restart's
    reconciliation first. Either way its part is booked once and the rest sold once."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    snapshots = SnapshotStore(tmp_path / "bots")
    part_while_down = while_down.startswith("filled-in-part")
    try:
        first, push = bot({0: GO_LONG}, journal=journal.for_bot(BOT))
        if part_while_down:
            for i in (60, 61):
                await push(i)
        else:
            await stop_filled_in_part(standin, push)
        snapshots.write(BOT, {**first.snapshot(), "journal_seq": journal.last_seq(BOT)})
        journal.commit()
        first.request_stop()
        if part_while_down:
            standin.thin_book_at_next_stop(0.4)
            standin.advance_to(candle_ms(62))
        elif while_down == "cancelled-by-hand":
            await account.client.cancel_order(str(standin.order_by_client_id(STOP).order_id), SYMBOL)

        bot_journal = journal.for_bot(BOT)
        recovered = recover(BOT, snapshots, bot_journal)
        second, push = bot({}, journal=bot_journal,
                           before_run=lambda runner: restore_from_journal(runner, recovered, bot_journal))
        if while_down == "filled-in-part-reconciled":
            await reconcile_on_start(second, live_config(standin), account, bot_journal, ManualClock(candle_ms(62)))
        for i in (63, 64, 65):
            await push(i)
        fills = [(e.data["order_id"], e.data["quantity"]) for e in bot_journal.events(kinds=("fill",))]
    finally:
        journal.close()

    sold_by = BOT_STOP if while_down in ("cancelled-by-hand", "still-resting") or part_while_down else None
    assert fills[1:] == [(STOP, STOP_SOLD), (sold_by, REST)]          # the stop's part booked once
    assert standin.order_submissions == {ENTRY: 1, STOP: 1, BOT_STOP: 1}
    assert float(standin.order_by_client_id(STOP).executed_qty) == STOP_SOLD
    assert_flat_as_the_account(second, standin)


def live_config(standin) -> BotConfig:
    return BotConfig.model_validate({
        "id": BOT, "mode": "live", "symbol": SYMBOL, "capital": 1_000, "on_restart": "resume",
        "exchange": {"id": "binance", "base_url": standin.base_url, "api_key_env": "BR_K", "secret_env": "BR_S"},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": {"stake_pct": 0.1, "stop_loss_pct": 0.002}, "execution": {"stop_on_exchange": True}})
