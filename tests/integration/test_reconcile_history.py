"""Start-up reconciliation reads the whole look-back of trades from a stand-in that answers
`myTrades` as Binance does: at most 1000 trades a request and at most 24 hours a time range.

The market: hourly candles at 30,000 for ten days from 2024-01-01. The bot's orders are market
buys placed at chosen times through the bot's account, as an earlier run of the bot would have.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from execution.exchange import ExchangeAccount
from execution.reconcile import reconcile
from runner.bot.clock import ManualClock
from execution.standin import BinanceStandIn
from execution.standin.ccxt_client import standin_account

T0_MS = 1_704_067_200_000
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
SYMBOL, PREFIX = "BTC/USDT", "brhist0001-"

CANDLES = [(T0_MS + h * HOUR_MS, 30_000.0, 30_010.0, 29_990.0, 30_000.0, 50.0) for h in range(10 * 24)]


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(CANDLES, balances={"USDT": 100_000}, start_ms=T0_MS) as running:
        yield running


@pytest.fixture
async def account(standin) -> AsyncIterator[ExchangeAccount]:
    async with standin_account(standin, clock=ManualClock(T0_MS)) as account:
        yield account


@pytest.fixture
def buy_at(standin, account) -> Callable[..., Any]:
    async def buy(ts_ms: int, seq: int, quantity: float = 0.001) -> None:
        standin.advance_to(ts_ms)
        await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "market", "buy", quantity,
                           None, {"clientOrderId": f"{PREFIX}{seq}"}, order_submission=True)
    return buy


def trades_of_the_bot(standin: BinanceStandIn) -> list[str]:
    ids = {o.order_id: o.client_order_id for o in standin.orders}
    return sorted(str(t.id) for t in standin.trades if ids[t.order_id].startswith(PREFIX))


async def test_trades_spread_over_several_days_of_the_look_back_are_all_found(standin, account, buy_at):
    for seq, day in enumerate((0.5, 2.2, 4.7, 6.1), start=1):
        await buy_at(T0_MS + int(day * DAY_MS), seq)
    standin.advance_to(T0_MS + 7 * DAY_MS + HOUR_MS)

    report = await reconcile(account, SYMBOL, prefix=PREFIX, known_open_orders=[], journal_fill_ids=set(),
                             since_ms=T0_MS)

    assert sorted(f.fill_id for f in report.missing_fills) == trades_of_the_bot(standin)
    assert [f.client_order_id for f in report.missing_fills] == [f"{PREFIX}{i}" for i in (1, 2, 3, 4)]


async def test_more_than_two_pages_of_trades_in_one_window_are_all_found(standin, account, buy_at):
    await buy_at(T0_MS + HOUR_MS, 1)
    standin.split_next_fill(2_500)                  # one order meeting 2,500 resting orders
    await buy_at(T0_MS + 2 * DAY_MS + 5 * HOUR_MS, 2, quantity=0.025)
    await buy_at(T0_MS + 3 * DAY_MS, 3)
    standin.advance_to(T0_MS + 3 * DAY_MS + HOUR_MS)

    report = await reconcile(account, SYMBOL, prefix=PREFIX, known_open_orders=[], journal_fill_ids=set(),
                             since_ms=T0_MS)

    assert len(report.missing_fills) == 2_502
    assert sorted(f.fill_id for f in report.missing_fills) == trades_of_the_bot(standin)
    by_id = [r.params for r in standin.requests if r.path == "/api/v3/myTrades" and "fromId" in r.params]
    assert by_id                                    # the full window went on by trade id


async def test_trades_before_the_look_back_or_already_journalled_are_not_reported(standin, account, buy_at):
    await buy_at(T0_MS + HOUR_MS, 1)
    await buy_at(T0_MS + 2 * DAY_MS, 2)
    await buy_at(T0_MS + 5 * DAY_MS, 3)
    journalled = {str(standin.trades[-1].id)}

    report = await reconcile(account, SYMBOL, prefix=PREFIX, known_open_orders=[], journal_fill_ids=journalled,
                             since_ms=T0_MS + DAY_MS)

    assert [f.client_order_id for f in report.missing_fills] == [f"{PREFIX}2"]
