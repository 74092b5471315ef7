"""A limit exit that expires puts back the protective exits it replaced, on the Binance stand-in
through the real ccxt client (live), and by the stand-in's quotes (paper).

The market (tests/unit/exchange_standin/sample_market.py): the bot buys at candle 60's close
(ask 30603.06) with a stop 0.2% under its fill (about 30541.9); closes then fall by 20 a candle
with lows 25 under the body, so candle 62 (low 30535) already reaches the stop, and so does
every candle after. The limit exit at 31000, placed at candle 61's close with `expire_after=2`,
rests through candles 62 and 63 and is cancelled at 63's close; from candle 64 the stop is back.
"""

from __future__ import annotations

import asyncio

import pytest

from execution.live import LiveExecution
from execution.paper import PaperExecution
from execution.quotes import CcxtQuotes
from market.models import Candle
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.clock import ManualClock
from runner.bot.strategy_runner import StrategyRunner
from runner.assembly.reconcile_on_start import restore_from_journal
from runner.state.journal import MemoryJournal, SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.exchange_standin.sample_market import candle_ms, make_candles

SYMBOL = "BTC/USDT"
PREFIX = "brexpire01-"
CANDLES = make_candles()
SCRIPT = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0, expire_after=2)}


@pytest.fixture
async def bot(standin):
    """Factory: `bot(engine, journal=None, before_run=None, script=SCRIPT)` -> (runner, push) with a
    0.2% stop-loss on `engine`; `before_run(runner)` restores it first (a restart)."""
    tasks: list[asyncio.Task] = []

    def make(engine, journal=None, before_run=None, script=SCRIPT):
        feed = QueuedFeed(SYMBOL)
        runner = StrategyRunner("expiry-bot", feed=feed, strategy=Scripted(script), execution=engine,
                                risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1, stop_loss_pct=0.002)),
                                portfolio=Portfolio(SYMBOL, 1_000.0), journal=journal or MemoryJournal(),
                                order_id_prefix=PREFIX)
        if before_run is not None:
            before_run(runner)
        tasks.append(asyncio.create_task(runner.run()))

        async def push(i: int) -> None:
            standin.advance_to(candle_ms(i))
            seen = runner.bars
            feed.queue.put_nowait(Candle(*CANDLES[i]))
            await eventually(lambda: runner.bars > seen and not runner.busy, 3.0, poll_secs=0.01)
        return runner, push

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def cancels(runner: StrategyRunner) -> list[str]:
    return [e.data["why"] for e in runner.journal.of_kind("cancel")]


def live_engine(account) -> LiveExecution:
    return LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=ManualClock(candle_ms(60)),
                         reconcile_every_candles=0)


async def test_a_live_limit_exit_that_expires_puts_back_the_stop_loss_which_then_sells_on_the_exchange(bot, account,
                                                                                                       standin):
    runner, push = bot(LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=ManualClock(candle_ms(60)),
                                     reconcile_every_candles=0))
    for i in (60, 61, 62, 63):
        await push(i)
    limit_exit = standin.order_by_client_id(f"{PREFIX}2")
    assert (limit_exit.side, limit_exit.type, limit_exit.status) == ("SELL", "LIMIT", "CANCELED")
    assert cancels(runner) == ["replaced by an exit", "expired"]
    [stop] = runner.execution.open_orders()                     # back, for the whole position
    assert (stop.client_order_id, stop.reason) == (f"{PREFIX}1-sl", "stop_loss")
    assert stop.quantity == pytest.approx(runner.portfolio.quantity)
    await push(64)

    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5                     # what is left is dust the step cannot sell


async def test_a_paper_limit_exit_that_expires_puts_back_the_stop_loss_like_a_live_one(bot, account, standin):
    paper = PaperExecution(CcxtQuotes(account.client), SYMBOL, fee_rate=0.001, now_ms=lambda: candle_ms(61))
    runner, push = bot(paper)
    for i in (60, 61, 62, 63):
        await push(i)
    assert cancels(runner) == ["replaced by an exit", "expired"]
    assert [o.client_order_id for o in paper.open_orders()] == [f"{PREFIX}1-sl"]
    await push(64)

    entry, stop = runner.journal.of_kind("fill")
    assert (stop.data["order_id"], stop.data["side"]) == (f"{PREFIX}1-sl", "sell")
    assert runner.portfolio.quantity == pytest.approx(0.0, abs=1e-12)
    assert standin.orders == []                                 # paper sends nothing


async def test_after_a_crash_past_the_snapshot_the_replaced_stop_is_not_restored_beside_the_limit_exit_but_comes_back_at_expiry(
        bot, account, standin, tmp_path):
    # The snapshot is written with the position and its stop; then the limit exit replaces the
    # stop (both journalled) and the process dies before the next snapshot.
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    snapshots = SnapshotStore(tmp_path / "bots")
    try:
        first, push = bot(live_engine(account), journal=journal.for_bot("expiry-bot"))
        await push(60)
        state = first.snapshot()
        snapshots.write("expiry-bot", {**state, "journal_seq": journal.last_seq("expiry-bot")})
        assert [o["order_id"] for o in state["open_orders"]] == [f"{PREFIX}1-sl"]
        await push(61)
        journal.commit()
        first.request_stop()                                    # it reads no candle more: the process is gone

        bot_journal = journal.for_bot("expiry-bot")
        recovered = recover("expiry-bot", snapshots, bot_journal)
        second, push = bot(live_engine(account), journal=bot_journal, script={},
                           before_run=lambda runner: restore_from_journal(runner, recovered, bot_journal))
        await push(62)                                          # reaches the stop: which is not resting now
        assert not [r for r in standin.requests if r.method == "POST" and r.path == "/api/v3/order"
                    and r.params.get("newClientOrderId") == f"{PREFIX}1-sl"]
        assert [o.client_order_id for o in second.execution.open_orders()] == [f"{PREFIX}2"]
        await push(63)                                          # the limit exit expires: the stop is back
        assert [o.client_order_id for o in second.execution.open_orders()] == [f"{PREFIX}1-sl"]
        await push(64)
    finally:
        journal.close()

    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert standin.order_submissions == {f"{PREFIX}1": 1, f"{PREFIX}2": 1, f"{PREFIX}1-sl": 1}
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
