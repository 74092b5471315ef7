"""A live bot with `stop_on_exchange`: its fixed stop-loss rests on the Binance stand-in as a
STOP_LOSS_LIMIT (through the real ccxt client, signed requests), its intent journalled first, and
every exit of the bot's own cancels it before it sells.

The market (tests/unit/exchange_standin/sample_market.py): the bot buys at candle 60's close (ask
30603.06) with a stop 0.2% under its fill (30541.85, limit 0.5% under it: 30389.15); closes then
fall by 20 a candle with lows 25 under the body. Candle 61 (low 30555, high 30625) does not reach
the stop; candle 62 trades 30580, 30605, then 30535, which triggers the stop and fills it there.
"""

from __future__ import annotations

import pytest

from execution.exchange_stop import ExchangeStopExecution
from risk.config import RiskConfig
from runner.assembly.exchange_stop import intent_journal
from runner.assembly.reconcile_on_start import reconcile_on_start, restore_from_journal
from runner.bot.clock import ManualClock
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal, SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from strategies.signal import GO_FLAT, GO_LONG, Direction, LimitSignal
from tests.integration.pushed_runners import SYMBOL
from tests.unit.exchange_standin.sample_market import candle_ms

PREFIX = "brxstop01-"
ENTRY, STOP = f"{PREFIX}1", f"{PREFIX}1-xs"


def stop_engine(account, journal, bot_id: str = "xstop-bot") -> ExchangeStopExecution:
    return ExchangeStopExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=ManualClock(candle_ms(60)),
                                 reconcile_every_candles=0, journal_intent=intent_journal(bot_id, journal,
                                                                                          ManualClock(candle_ms(60))))


class CommitWatch(MemoryJournal):
    """A memory journal that notes, at each commit, the orders the stand-in holds by then."""

    def __init__(self, standin) -> None:
        super().__init__()
        self.standin, self.seen_at_commits = standin, []

    async def group_commit(self) -> None:
        self.seen_at_commits.append(([e.key for e in self.of_kind("order")],
                                     [o.client_order_id for o in self.standin.orders]))
        await super().group_commit()


@pytest.fixture
def bot(pushed_runners, account, standin):
    """Factory: `bot(script, journal=None, before_run=None, **risk)` -> (runner, push): a live bot with
    its stop on the exchange, 0.2% under its entry unless `risk` says otherwise."""
    def make(script, journal=None, before_run=None, **risk):
        journal = journal if journal is not None else CommitWatch(standin)
        config = RiskConfig(stake_pct=0.1, **({"stop_loss_pct": 0.002} | risk))
        return pushed_runners("xstop-bot", stop_engine(account, journal), script, config, PREFIX, journal=journal,
                              before_run=before_run)
    return make


def assert_flat_as_the_account(runner, standin) -> None:
    """The bot books what the account holds, and that is dust the market's step cannot sell."""
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5


def posted(standin) -> list[str]:
    return [r.params["newClientOrderId"] for r in standin.requests if r.method == "POST" and r.path == "/api/v3/order"]


def before(standin, method: str, cid: str, then_posted: str) -> bool:
    """A `method` request about `cid` came before the order `then_posted` was sent."""
    first = next(i for i, r in enumerate(standin.requests) if r.method == method)
    return first < next(i for i, r in enumerate(standin.requests) if r.params.get("newClientOrderId") == then_posted)


async def test_an_entry_rests_its_stop_on_the_exchange_journalled_before_it_is_sent(bot, account, standin):
    runner, push = bot({0: GO_LONG})
    await push(60)

    [resting] = await account.client.fetch_open_orders(SYMBOL)
    assert (resting["clientOrderId"], resting["info"]["type"], resting["side"]) == (STOP, "STOP_LOSS_LIMIT", "sell")
    assert (resting["triggerPrice"], resting["price"]) == (30_541.85, 30_389.15)
    assert resting["amount"] == pytest.approx(runner.portfolio.quantity, abs=1e-5)          # what the entry holds
    assert standin.balances["BTC"].free < 1e-5                                               # locked by the stop
    assert [(o.client_order_id, o.oco_group) for o in runner.execution.open_orders()] == [(STOP, ENTRY)]  # no bot stop
    journalled_then_sent = [seen for keys, seen in runner.journal.seen_at_commits if STOP in keys]
    assert journalled_then_sent[0] == [ENTRY]                  # committed while the exchange had no stop yet


async def test_the_stand_in_fills_the_stop_and_the_bot_books_it_once_without_selling_itself(bot, standin):
    runner, push = bot({0: GO_LONG})
    for i in (60, 61, 62, 63):
        await push(i)

    assert standin.order_by_client_id(STOP).status == "FILLED"
    assert posted(standin) == [ENTRY, STOP]                     # no market exit of the bot's
    stop_fills = [e for e in runner.journal.of_kind("fill") if e.data["order_id"] == STOP]
    assert len(stop_fills) == 1 and stop_fills[0].data["price"] == 30_535.0
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.execution.open_orders() == []


@pytest.mark.parametrize(("risk", "exit_id"), [({"take_profit_pct": 0.0001}, f"{ENTRY}-tp"),
                                               ({"trailing_stop_pct": 0.001}, f"{ENTRY}-ts")])
async def test_a_take_profit_or_trailing_stop_cancels_the_stop_on_the_exchange_then_sells(bot, standin, risk, exit_id):
    runner, push = bot({0: GO_LONG}, **risk)
    await push(60)
    await push(61)                                   # high 30625 reaches the target; low 30555 the trailing level

    assert standin.order_by_client_id(STOP).status == "CANCELED"
    sold = standin.order_by_client_id(exit_id)
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert before(standin, "DELETE", STOP, exit_id)
    await push(62)                                   # would have reached the stop: nothing rests, nothing sells
    assert posted(standin) == [ENTRY, STOP, exit_id]
    assert_flat_as_the_account(runner, standin)


async def test_an_exit_signal_cancels_the_stop_first_then_sells(bot, standin):
    runner, push = bot({0: GO_LONG, 1: GO_FLAT})
    await push(60)
    await push(61)

    exit_id = f"{PREFIX}2"
    assert standin.order_by_client_id(STOP).status == "CANCELED"
    assert standin.order_by_client_id(exit_id).status == "FILLED"          # not refused for locked coins
    assert before(standin, "DELETE", STOP, exit_id) and posted(standin) == [ENTRY, STOP, exit_id]
    assert_flat_as_the_account(runner, standin)


async def test_a_stop_that_fills_while_the_exit_is_decided_wins_and_no_second_sell_is_sent(bot, standin):
    runner, push = bot({0: GO_LONG, 1: GO_FLAT})
    await push(60)
    standin.fill_during_cancel_next()               # a trade reaches the stop as its cancel travels
    await push(61)

    assert standin.order_by_client_id(STOP).status == "FILLED"
    assert posted(standin) == [ENTRY, STOP]                                 # the exit was not sent
    assert [e.data["order_id"] for e in runner.journal.of_kind("fill")] == [ENTRY, STOP]
    assert_flat_as_the_account(runner, standin)


async def test_a_kill_cancels_the_stop_and_flattens_the_position(bot, standin):
    runner, push = bot({0: GO_LONG})
    await push(60)
    await runner.kill_now("by hand")

    flatten = f"{PREFIX}2"
    assert standin.order_by_client_id(STOP).status == "CANCELED"
    assert standin.order_by_client_id(flatten).status == "FILLED"
    assert before(standin, "DELETE", STOP, flatten) and posted(standin) == [ENTRY, STOP, flatten]
    assert_flat_as_the_account(runner, standin)
    assert runner.execution.open_orders() == []


@pytest.mark.parametrize("reconciled", [False, True], ids=["looked-up", "reconciled-resume"])
async def test_a_stop_filled_while_the_daemon_was_down_is_booked_once_after_the_restart(bot, account, standin,
                                                                                       tmp_path, reconciled):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    snapshots = SnapshotStore(tmp_path / "bots")
    try:
        first, push = bot({0: GO_LONG}, journal=journal.for_bot("xstop-bot"))
        await push(60)
        state = first.snapshot()
        snapshots.write("xstop-bot", {**state, "journal_seq": journal.last_seq("xstop-bot")})
        assert [o["order_id"] for o in state["open_orders"]] == [STOP]
        journal.commit()
        first.request_stop()
        standin.advance_to(candle_ms(62))           # down: candle 62 fills the stop on the exchange

        bot_journal = journal.for_bot("xstop-bot")
        recovered = recover("xstop-bot", snapshots, bot_journal)
        second, push = bot({}, journal=bot_journal,
                           before_run=lambda runner: restore_from_journal(runner, recovered, bot_journal))
        if reconciled:                              # the daemon's start: the exchange's trades first
            await reconcile_on_start(second, live_config(standin, on_restart="resume"), account, bot_journal,
                                     ManualClock(candle_ms(62)))
        await push(63)
        await push(64)
        fills = [(e.data["order_id"], e.data.get("adopted", False)) for e in bot_journal.events(kinds=("fill",))]
    finally:
        journal.close()

    assert fills == [(ENTRY, False), (STOP, reconciled)]      # booked once: by the lookup, or adopted
    assert posted(standin) == [ENTRY, STOP]
    assert_flat_as_the_account(second, standin)
    assert second.execution.open_orders() == []


def live_config(standin, **fields) -> BotConfig:
    return BotConfig.model_validate({
        "id": "xstop-bot", "mode": "live", "symbol": SYMBOL, "capital": 1_000,
        "exchange": {"id": "binance", "base_url": standin.base_url, "api_key_env": "BR_K", "secret_env": "BR_S"},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": {"stake_pct": 0.1, "stop_loss_pct": 0.002}, "execution": {"stop_on_exchange": True}} | fields)


async def test_a_restarted_bot_follows_its_resting_stop_and_the_exchange_agrees_with_it(bot, account, standin,
                                                                                       tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    snapshots = SnapshotStore(tmp_path / "bots")
    try:
        first, push = bot({0: GO_LONG}, journal=journal.for_bot("xstop-bot"))
        await push(60)
        snapshots.write("xstop-bot", {**first.snapshot(), "journal_seq": journal.last_seq("xstop-bot")})
        journal.commit()
        first.request_stop()

        bot_journal = journal.for_bot("xstop-bot")
        recovered = recover("xstop-bot", snapshots, bot_journal)
        second, push = bot({}, journal=bot_journal,
                           before_run=lambda runner: restore_from_journal(runner, recovered, bot_journal))
        # on_restart: halt (the default) refuses to start on any difference: the stop is none.
        await reconcile_on_start(second, live_config(standin), account, bot_journal, ManualClock(candle_ms(60)))
        await push(61)
        assert [o.client_order_id for o in second.execution.open_orders()] == [STOP]
        await push(62)                              # the stand-in fills it
        fills = [e.data["order_id"] for e in bot_journal.events(kinds=("fill",))]
    finally:
        journal.close()

    assert fills == [ENTRY, STOP] and posted(standin) == [ENTRY, STOP]
    assert_flat_as_the_account(second, standin)


async def test_a_limit_exit_cancels_the_stop_then_rests_and_its_stop_still_sells_once_when_reached(bot, standin):
    runner, push = bot({0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0)})
    await push(60)
    await push(61)                                  # the limit exit replaces the stop on the exchange
    limit_exit = f"{PREFIX}2"
    assert standin.order_by_client_id(STOP).status == "CANCELED"
    assert standin.order_by_client_id(limit_exit).status == "NEW" and before(standin, "DELETE", STOP, limit_exit)
    await push(62)                                  # low 30535 reaches the stop set aside: the bot sells

    sold = standin.order_by_client_id(f"{ENTRY}-sl")
    assert standin.order_by_client_id(limit_exit).status == "CANCELED"
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert posted(standin) == [ENTRY, STOP, limit_exit, f"{ENTRY}-sl"]
    assert_flat_as_the_account(runner, standin)


DIP_ENTRY = {0: LimitSignal(Direction.LONG, "buy the dip", price=30_500.0)}
"""A limit entry that candle 64 (low 30495) fills: its stop (30439.00) is placed at that candle's
poll, a request of its own, and candle 67 (low 30435) is the first to reach it."""


async def test_a_stop_whose_answer_is_lost_is_looked_up_by_its_client_order_id_never_sent_again(bot, standin):
    runner, push = bot(DIP_ENTRY)
    for i in (60, 61, 62, 63):
        await push(i)
    standin.lose_response_next()                    # the stop lands; its answer does not
    await push(64)

    assert standin.order_by_client_id(STOP).status == "NEW"
    assert [o.client_order_id for o in runner.execution.open_orders()] == [STOP]
    for i in (65, 66, 67):
        await push(i)
    assert standin.order_submissions == {ENTRY: 1, STOP: 1}
    assert [e.data["order_id"] for e in runner.journal.of_kind("fill")] == [ENTRY, STOP]
    assert_flat_as_the_account(runner, standin)


async def test_a_stop_the_exchange_refuses_becomes_the_bot_managed_stop(bot, standin):
    runner, push = bot(DIP_ENTRY)
    for i in (60, 61, 62, 63):
        await push(i)
    standin.fail_next("POST /api/v3/order", status=400, code=-2010, msg="Stop price would trigger immediately.")
    await push(64)

    assert standin.order_by_client_id(STOP) is None
    assert [(o.client_order_id, o.stop_price) for o in runner.execution.open_orders()] == [(f"{ENTRY}-sl", 30_439.0)]
    for i in (65, 66, 67):
        await push(i)                               # candle 67 reaches it: the bot sells by market
    sold = standin.order_by_client_id(f"{ENTRY}-sl")
    assert (sold.type, sold.status) == ("MARKET", "FILLED") and posted(standin) == [ENTRY, STOP, f"{ENTRY}-sl"]
    assert_flat_as_the_account(runner, standin)


async def test_a_stop_cancelled_by_hand_on_the_exchange_leaves_the_bot_managed_stop_in_its_place(bot, account,
                                                                                                 standin):
    runner, push = bot({0: GO_LONG})
    await push(60)
    resting = standin.order_by_client_id(STOP)
    await account.client.cancel_order(str(resting.order_id), SYMBOL)          # a person, on the exchange
    await push(61)
    assert [(o.client_order_id, o.stop_price) for o in runner.execution.open_orders()] == [
        (f"{ENTRY}-sl", pytest.approx(30_541.85, abs=0.01))]
    await push(62)                                  # low 30535 reaches it: the bot sells by market, once

    sold = standin.order_by_client_id(f"{ENTRY}-sl")
    assert (sold.type, sold.status) == ("MARKET", "FILLED") and posted(standin) == [ENTRY, STOP, f"{ENTRY}-sl"]
    assert_flat_as_the_account(runner, standin)
