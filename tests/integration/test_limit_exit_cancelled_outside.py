"""A limit exit that leaves the open orders without the bot cancelling it (a person cancels it on
the exchange, or the exchange expires or rejects it) gives the position back the protective exits
it had set aside, for what is still held (`runner.bot.limit_orders._limit_exit_gone`): live on the
Binance stand-in through the real ccxt client, and paper by the stand-in's quotes.

The market (tests/unit/exchange_standin/sample_market.py): the bot buys at candle 60's close (ask
30603.06) with a stop 0.4% under its fill (about 30480.6) or a 0.4% trailing stop (trailed by
candle 61's high, 30625, to about 30502.5); closes then fall by 20 a candle with lows 25 under the
body, so candle 64 (low 30495) is the first to reach the trailing stop and candle 65 (low 30475)
the first to reach the stop-loss. The good-till-cancelled limit exit at 31000 is placed at
candle 61's close; the person cancels it before candle 62 closes.
"""

from __future__ import annotations

import pytest

from risk.config import RiskConfig
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.integration.pushed_runners import cancels, live_engine, paper_engine

SYMBOL = "BTC/USDT"
PREFIX = "brgone01-"
LIMIT_EXIT = f"{PREFIX}2"
SCRIPT = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=31_000.0)}
STOP_LOSS = ({"stop_loss_pct": 0.004}, "1-sl", 65)
TRAILING = ({"trailing_stop_pct": 0.004}, "1-ts", 64)


@pytest.fixture
def bot(pushed_runners):
    """Factory: `bot(engine, risk, script=SCRIPT)` -> (runner, push) (tests/integration/pushed_runners.py)."""
    def make(engine, risk, script=SCRIPT):
        return pushed_runners("gone-bot", engine, script, RiskConfig(stake_pct=0.1, **risk), PREFIX)
    return make


@pytest.fixture
def cancel_by_hand(accounts, standin):
    """`await cancel_by_hand(client_order_id)`: a person cancels the order on the exchange, with a
    client of their own (a signed DELETE /api/v3/order, as the exchange's app or a script sends)."""
    person = accounts()

    async def cancel(client_order_id: str) -> None:
        order = standin.order_by_client_id(client_order_id)
        await person.call("cancel_order", SYMBOL, person.client.cancel_order, str(order.order_id), SYMBOL)
        assert standin.order_by_client_id(client_order_id).status == "CANCELED"
    return cancel


def order_posts(standin) -> list[str]:
    return [r.params["newClientOrderId"] for r in standin.requests if r.method == "POST" and r.path == "/api/v3/order"]


@pytest.mark.parametrize("risk, exit_id, reaching", [STOP_LOSS, TRAILING])
async def test_a_live_limit_exit_cancelled_by_hand_gives_the_position_its_stop_back_which_then_sells(
        bot, account, standin, cancel_by_hand, risk, exit_id, reaching):
    runner, push = bot(live_engine(account, PREFIX), risk)
    await push(60)
    await push(61)
    assert [o.client_order_id for o in runner.execution.open_orders()] == [LIMIT_EXIT]   # the stop set aside
    await cancel_by_hand(LIMIT_EXIT)
    await push(62)

    [stop] = runner.execution.open_orders()                     # back, for the whole position
    assert (stop.client_order_id, stop.type.value) == (f"{PREFIX}{exit_id}", "stop")
    assert stop.quantity == pytest.approx(runner.portfolio.quantity)
    assert runner._replaced_exits is None
    assert cancels(runner) == ["replaced by an exit", "cancelled outside the bot"]
    for i in range(63, reaching):
        await push(i)
    assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT]  # not reached yet: nothing sold
    await push(reaching)

    sold = standin.order_by_client_id(f"{PREFIX}{exit_id}")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT, f"{PREFIX}{exit_id}"]     # each once
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5                     # what is left is dust the step cannot sell
    await push(reaching + 1)
    assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT, f"{PREFIX}{exit_id}"]


async def test_a_live_limit_exit_cancelled_by_hand_on_a_candle_reaching_the_stop_sells_at_that_candle(
        bot, account, standin, cancel_by_hand):
    runner, push = bot(live_engine(account, PREFIX), {"stop_loss_pct": 0.002})    # about 30541.9: candle 62
    await push(60)
    await push(61)
    await cancel_by_hand(LIMIT_EXIT)
    await push(62)

    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert cancels(runner) == ["replaced by an exit", "cancelled outside the bot"]
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []


async def test_a_live_limit_exit_filled_in_part_then_cancelled_by_hand_gives_back_its_stop_for_the_rest(
        bot, account, standin, cancel_by_hand):
    # At 30600 the limit exit rests above candle 61's bid; candle 62's high (30605) trades half of it.
    script = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=30_600.0)}
    runner, push = bot(live_engine(account, PREFIX), STOP_LOSS[0], script)
    await push(60)
    bought = runner.portfolio.quantity
    await push(61)
    standin.partial_fill_next(0.5)
    await push(62)
    assert standin.order_by_client_id(LIMIT_EXIT).status == "PARTIALLY_FILLED"
    held = runner.portfolio.quantity
    assert 0 < held < bought
    await cancel_by_hand(LIMIT_EXIT)
    await push(63)

    [stop] = runner.execution.open_orders()
    assert stop.client_order_id == f"{PREFIX}1-sl"
    assert stop.quantity == pytest.approx(held)                 # scaled to what is left
    assert cancels(runner) == ["replaced by an exit", "cancelled outside the bot"]
    await push(64)
    await push(65)
    sold = standin.order_by_client_id(f"{PREFIX}1-sl")
    assert (sold.type, sold.status) == ("MARKET", "FILLED")
    assert float(sold.executed_qty) == pytest.approx(held, abs=1e-5)
    assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT, f"{PREFIX}1-sl"]
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5


async def test_a_live_limit_exit_filled_whole_gives_back_no_stop_and_nothing_is_sold_again(bot, account, standin):
    script = {0: GO_LONG, 1: LimitSignal(Direction.FLAT, "take it", price=30_600.0)}
    runner, push = bot(live_engine(account, PREFIX), STOP_LOSS[0], script)
    for i in (60, 61, 62):
        await push(i)
    assert standin.order_by_client_id(LIMIT_EXIT).status == "FILLED"
    for i in (63, 64, 65, 66):                                  # through the stop's level
        await push(i)

    assert order_posts(standin) == [f"{PREFIX}1", LIMIT_EXIT]
    assert cancels(runner) == ["replaced by an exit"]
    assert runner.execution.open_orders() == [] and runner._replaced_exits is None
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)


@pytest.mark.parametrize("risk, exit_id, reaching", [STOP_LOSS, TRAILING])
async def test_a_paper_limit_exit_cancelled_outside_the_bot_gives_the_position_its_stop_back_which_then_fills(
        bot, account, standin, risk, exit_id, reaching):
    # A paper order is on no exchange: the engine's own cancel stands in for the person's.
    paper = paper_engine(account)
    runner, push = bot(paper, risk)
    await push(60)
    await push(61)
    [cancelled], _ = await paper.cancel([LIMIT_EXIT])
    assert cancelled.client_order_id == LIMIT_EXIT
    await push(62)

    assert [o.client_order_id for o in paper.open_orders()] == [f"{PREFIX}{exit_id}"]
    assert cancels(runner) == ["replaced by an exit", "cancelled outside the bot"]
    for i in range(63, reaching):
        await push(i)
    assert len(runner.journal.of_kind("fill")) == 1
    await push(reaching)

    entry, stop = runner.journal.of_kind("fill")
    assert (stop.data["order_id"], stop.data["side"]) == (f"{PREFIX}{exit_id}", "sell")
    assert stop.data["quantity"] == pytest.approx(entry.data["quantity"])
    assert runner.portfolio.quantity == pytest.approx(0.0, abs=1e-12)
    assert standin.orders == []                                 # paper sends nothing


async def test_the_kill_switch_cancels_a_resting_limit_exit_and_sells_once_and_its_stop_stays_away(
        bot, account, standin):
    runner, push = bot(live_engine(account, PREFIX), STOP_LOSS[0])
    await push(60)
    await push(61)
    await runner.kill_now("by hand")

    assert cancels(runner) == ["replaced by an exit", "kill switch"]
    assert standin.order_by_client_id(LIMIT_EXIT).status == "CANCELED"
    sells = [o for o in standin.orders if o.side == "SELL"]
    assert [(o.type, o.status) for o in sells] == [("LIMIT", "CANCELED"), ("MARKET", "FILLED")]
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []
    assert "replaced_exits" not in runner.snapshot()            # a restart puts no stop back either
