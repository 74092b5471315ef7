"""A limit exit that expires puts back the protective exits it replaced, on the Binance stand-in
through the real ccxt client (live), and by the stand-in's quotes (paper).

The market (tests/unit/exchange_standin/sample_market.py): the bot buys at candle 60's close
(ask 30603.06) with a stop 0.4% under its fill (about 30480.6); closes then fall by 20 a candle
with lows 25 under the body, so candle 64's low (30495) is above the stop and candle 65 (low
30475) is the first to reach it. The limit exit at 31000, placed at candle 61's close with
`expire_after=2`, rests through candles 62 and 63 and is cancelled at 63's close; from candle 64
the stop is back, and candle 65 sells. (A stop reached while the limit exit rests cancels it:
test_limit_exit_stop_watch_live.py.)
"""

from __future__ import annotations

import pytest

from risk.config import RiskConfig
from runner.assembly.reconcile_on_start import restore_from_journal
from runner.state.journal import SqliteJournal
from runner.state.recovery import recover
from runner.state.snapshots import SnapshotStore
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.integration.pushed_runners import cancels, live_engine, paper_engine

PREFIX = "brexpire01-"
SCRIPT = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0, expire_after=2)}


@pytest.fixture
def bot(pushed_runners):
    """Factory: `bot(engine, journal=None, before_run=None, script=SCRIPT)` -> (runner, push) with a
    0.4% stop-loss on `engine` (tests/integration/pushed_runners.py); `before_run(runner)`
    restores it first (a restart)."""
    def make(engine, journal=None, before_run=None, script=SCRIPT):
        return pushed_runners("expiry-bot", engine, script, RiskConfig(stake_pct=0.1, stop_loss_pct=0.004), PREFIX,
                              journal=journal, before_run=before_run)
    return make


async def test_a_live_limit_exit_that_expires_puts_back_the_stop_loss_which_then_sells_on_the_exchange(bot, account,
                                                                                                       standin):
    runner, push = bot(live_engine(account, PREFIX))
    for i in (60, 61, 62, 63):
        await push(i)
    limit_exit = standin.order_by_client_id(f"{PREFIX}2")
    assert (limit_exit.side, limit_exit.type, limit_exit.status) == ("SELL", "LIMIT", "CANCELED")
    assert cancels(runner) == ["replaced by an exit", "expired"]
    [stop] = runner.execution.open_orders()                     # back, for the whole position
    assert (stop.client_order_id, stop.reason) == (f"{PREFIX}1-sl", "stop_loss")
    assert stop.quantity == pytest.approx(runner.portfolio.quantity)
    await push(64)
    assert standin.order_by_client_id(f"{PREFIX}1-sl") is None
    await push(65)

    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5                     # what is left is dust the step cannot sell


async def test_a_paper_limit_exit_that_expires_puts_back_the_stop_loss_like_a_live_one(bot, account, standin):
    paper = paper_engine(account)
    runner, push = bot(paper)
    for i in (60, 61, 62, 63):
        await push(i)
    assert cancels(runner) == ["replaced by an exit", "expired"]
    assert [o.client_order_id for o in paper.open_orders()] == [f"{PREFIX}1-sl"]
    await push(64)
    assert len(runner.journal.of_kind("fill")) == 1
    await push(65)

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
        first, push = bot(live_engine(account, PREFIX), journal=journal.for_bot("expiry-bot"))
        await push(60)
        state = first.snapshot()
        snapshots.write("expiry-bot", {**state, "journal_seq": journal.last_seq("expiry-bot")})
        assert [o["order_id"] for o in state["open_orders"]] == [f"{PREFIX}1-sl"]
        await push(61)
        journal.commit()
        first.request_stop()                                    # it reads no candle more: the process is gone

        bot_journal = journal.for_bot("expiry-bot")
        recovered = recover("expiry-bot", snapshots, bot_journal)
        second, push = bot(live_engine(account, PREFIX), journal=bot_journal, script={},
                           before_run=lambda runner: restore_from_journal(runner, recovered, bot_journal))
        await push(62)
        assert not [r for r in standin.requests if r.method == "POST" and r.path == "/api/v3/order"
                    and r.params.get("newClientOrderId") == f"{PREFIX}1-sl"]
        assert [o.client_order_id for o in second.execution.open_orders()] == [f"{PREFIX}2"]
        await push(63)                                          # the limit exit expires: the stop is back
        assert [o.client_order_id for o in second.execution.open_orders()] == [f"{PREFIX}1-sl"]
        await push(64)
        await push(65)
    finally:
        journal.close()

    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert standin.order_submissions == {f"{PREFIX}1": 1, f"{PREFIX}2": 1, f"{PREFIX}1-sl": 1}
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
