"""While a limit exit rests, the stop it set aside keeps watching: a candle that reaches it makes
the bot cancel the limit exit on the exchange and then sell by market (live, on the Binance
stand-in through the real ccxt client), or fill the stop by sim's rule (paper, by the stand-in's
quotes); a limit exit that filled before its cancel arrived wins, and no stop exit follows. A
bot restarted after such a candle catches up on it.

The market (tests/unit/exchange_standin/sample_market.py): the bot buys at candle 60's close
(ask 30603.06) with a stop 0.2% under its fill (about 30541.9); closes then fall by 20 a candle
with lows 25 under the body. The good-till-cancelled limit exit at 31000 is placed at candle 61's
close (low 30555: above the stop); candle 62 (low 30535) reaches the stop.
"""

from __future__ import annotations

import pytest

from market.models import Candle
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.strategy_runner import StrategyRunner
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.fakes import QueuedFeed, Scripted
from tests.integration.pushed_runners import CANDLES, SYMBOL, cancels, live_engine, paper_engine
from tests.unit.exchange_standin.sample_market import candle_ms

PREFIX = "brwatch01-"
SCRIPT = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0)}


@pytest.fixture
def bot(pushed_runners):
    """Factory: `bot(engine, **risk)` -> (runner, push), a 0.2% stop-loss unless `risk` says otherwise."""
    def make(engine, **risk):
        config = RiskConfig(stake_pct=0.1, **(risk or {"stop_loss_pct": 0.002}))
        return pushed_runners("watch-bot", engine, SCRIPT, config, PREFIX)
    return make


def order_posts(standin) -> list[str]:
    """The client order ids of the orders the bot sent, in order."""
    return [r.params["newClientOrderId"] for r in standin.requests
            if r.method == "POST" and r.path == "/api/v3/order"]


@pytest.mark.parametrize("risk, exit_id", [({"stop_loss_pct": 0.002}, "1-sl"), ({"trailing_stop_pct": 0.002}, "1-ts")])
async def test_a_live_stop_reached_while_the_limit_exit_rests_cancels_it_then_sells_by_market(
        bot, account, standin, risk, exit_id):
    runner, push = bot(live_engine(account, PREFIX), **risk)
    await push(60)
    await push(61)
    assert standin.order_by_client_id(f"{PREFIX}2").status == "NEW"    # resting, the stop set aside
    await push(62)

    limit_exit = standin.order_by_client_id(f"{PREFIX}2")
    sold = standin.order_by_client_id(f"{PREFIX}{exit_id}")
    assert (limit_exit.type, limit_exit.status) == ("LIMIT", "CANCELED")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2", f"{PREFIX}{exit_id}"]    # each once
    cancel_at = next(i for i, r in enumerate(standin.requests) if r.method == "DELETE")
    assert cancel_at < next(i for i, r in enumerate(standin.requests)
                            if r.params.get("newClientOrderId") == f"{PREFIX}{exit_id}")
    assert cancels(runner) == ["replaced by an exit", "stop reached"]
    journalled = [(e.kind, e.data["order_id"]) for e in runner.journal.events if e.kind in ("cancel", "fill")]
    assert journalled[-2:] == [("cancel", f"{PREFIX}2"), ("fill", f"{PREFIX}{exit_id}")]   # the cancel, then the exit
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5                     # what is left is dust the step cannot sell
    assert runner.execution.open_orders() == [] and runner._replaced_exits is None
    await push(63)
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2", f"{PREFIX}{exit_id}"]


async def test_a_live_limit_exit_that_fills_before_its_cancel_arrives_wins_and_no_stop_exit_is_sent(
        bot, account, standin):
    runner, push = bot(live_engine(account, PREFIX))
    await push(60)
    await push(61)
    standin.fill_during_cancel_next()                           # a trade fills it as the cancel travels
    await push(62)

    limit_exit = standin.order_by_client_id(f"{PREFIX}2")
    assert (limit_exit.status, limit_exit.price) == ("FILLED", pytest.approx(31_000.0))
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2"]                   # no stop exit
    assert cancels(runner) == ["replaced by an exit"]          # the cancel found it filled
    assert [f.data["order_id"] for f in runner.journal.of_kind("fill")] == [f"{PREFIX}1", f"{PREFIX}2"]
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.execution.open_orders() == [] and runner._replaced_exits is None
    await push(63)
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2"]


async def test_a_paper_stop_reached_while_the_limit_exit_rests_cancels_it_and_fills_the_stop(bot, account, standin):
    paper = paper_engine(account)
    runner, push = bot(paper)
    for i in (60, 61, 62):
        await push(i)

    assert cancels(runner) == ["replaced by an exit", "stop reached"]
    entry, stop = runner.journal.of_kind("fill")
    assert (stop.data["order_id"], stop.data["side"]) == (f"{PREFIX}1-sl", "sell")
    assert stop.data["quantity"] == pytest.approx(entry.data["quantity"])
    assert runner.portfolio.quantity == pytest.approx(0.0, abs=1e-12)
    assert paper.open_orders() == [] and runner._replaced_exits is None
    assert standin.orders == []                                 # paper sends nothing


async def test_a_live_bot_restarted_past_a_candle_that_reached_the_set_aside_stop_cancels_the_limit_exit_and_sells(
        bot, account, standin):
    first, push = bot(live_engine(account, PREFIX))
    await push(60)
    await push(61)
    state = first.snapshot()                                    # the limit exit rests, its stop set aside
    assert [o["order_id"] for o in state["replaced_exits"][f"{PREFIX}2"]] == [f"{PREFIX}1-sl"]
    first.request_stop()                                        # the process is gone
    standin.advance_to(candle_ms(62))                           # candle 62 reaches the stop meanwhile

    second = StrategyRunner("watch-bot", feed=QueuedFeed(SYMBOL), strategy=Scripted({}),
                            execution=live_engine(account, PREFIX),
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1, stop_loss_pct=0.002)),
                            portfolio=Portfolio(SYMBOL, 1_000.0), journal=first.journal, order_id_prefix=PREFIX)
    second.restore(state)
    await second.catch_up_exits([Candle(*CANDLES[61]), Candle(*CANDLES[62])])   # 61 is the snapshot's own

    assert standin.order_by_client_id(f"{PREFIX}2").status == "CANCELED"
    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2", f"{PREFIX}1-sl"]
    assert cancels(second) == ["replaced by an exit", "stop reached"]
    assert second.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert second.execution.open_orders() == [] and second._replaced_exits is None
    await second.aclose()


async def test_a_live_limit_exit_whose_cancel_fails_keeps_the_stop_waiting_and_nothing_is_sold_until_it_is_cancelled(
        bot, account, standin):
    runner, push = bot(live_engine(account, PREFIX))
    await push(60)
    await push(61)
    standin.fail_next("DELETE /api/v3/order", status=503, times=4)      # every attempt of the cancel
    await push(62)                                              # reaches the stop; the cancel fails

    assert standin.order_by_client_id(f"{PREFIX}2").status == "NEW"
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2"]                   # no exit beside it
    assert cancels(runner) == ["replaced by an exit"]
    assert [o.client_order_id for o in runner._replaced_exits[f"{PREFIX}2"]] == [f"{PREFIX}1-sl"]
    assert standin.pending_faults == []                         # the exchange answers again
    await push(63)                                              # reaches the stop too

    assert standin.order_by_client_id(f"{PREFIX}2").status == "CANCELED"
    assert order_posts(standin) == [f"{PREFIX}1", f"{PREFIX}2", f"{PREFIX}1-sl"]
    assert cancels(runner) == ["replaced by an exit", "stop reached"]
    assert runner.portfolio.quantity < 1e-5
