"""A live bot journalling to PostgreSQL sends no order once another node holds its fence: the
order's intent is committed before the order leaves, and that commit is refused.

The bot is a real `StrategyRunner` on `LiveExecution` and the real ccxt client against the
Binance stand-in on 127.0.0.1; two `PostgresJournal`s on one database stand for two nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from execution.exchange import ExchangeAccounts
from execution.exchange_config import ExchangeConfig
from execution.live import LiveExecution
from execution.standin import BinanceStandIn
from execution.standin.ccxt_client import fast_client
from market.models import Candle
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.clock import ManualClock
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.cluster.postgres import StaleFencingToken
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, eventually

T0_MS, STEP_MS, NOW_INDEX = 1_704_067_200_000, 60_000, 60
SYMBOL, BOT, PREFIX = "BTC/USDT", "live-bot", "brtest0001-"
CANDLES = [(T0_MS + i * STEP_MS, 30_000.0, 30_050.0, 29_950.0, 30_000.0, 1.0) for i in range(80)]


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(CANDLES, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + NOW_INDEX * STEP_MS,
                              fee_rate=0.001, spread_bps=2) as running:
        yield running


@pytest.fixture
async def engine(standin) -> AsyncIterator[LiveExecution]:
    clock = ManualClock(1_700_000_000_000)
    accounts = ExchangeAccounts(environ={"K": standin.api_key, "S": standin.secret}, client_factory=fast_client,
                                clock=clock)
    account = accounts.get(ExchangeConfig(id="binance", account="main", api_key_env="K", secret_env="S",
                                          base_url=standin.base_url, timeout_secs=5))
    yield LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    await accounts.aclose()


def live_bot(engine: LiveExecution, journal) -> tuple[StrategyRunner, QueuedFeed]:
    feed = QueuedFeed(SYMBOL)
    runner = StrategyRunner(BOT, feed=feed, strategy=Scripted({0: GO_LONG}), execution=engine,
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1)),
                            portfolio=Portfolio(SYMBOL, 1_000.0), journal=journal, order_id_prefix=PREFIX,
                            commit_intents=True)
    return runner, feed


async def test_the_owner_journals_the_intent_before_its_order_reaches_the_exchange(pg_nodes, engine, standin):
    a, _ = pg_nodes
    await a.claim(BOT, 1)
    runner, feed = live_bot(engine, a.for_bot(BOT, 1))
    running = asyncio.create_task(runner.run())
    feed.queue.put_nowait(Candle(*CANDLES[NOW_INDEX]))
    await eventually(lambda: runner.fills == 1, 5.0, poll_secs=0.01)
    feed.queue.put_nowait(None)
    await asyncio.wait_for(running, 5)

    assert [o.client_order_id for o in standin.orders] == [f"{PREFIX}1"]
    assert [e.kind for e in a.events(BOT, kinds=("order", "fill"))] == ["order", "fill"]


async def test_a_node_fenced_out_sends_no_order_and_stops_the_bot(pg_nodes, engine, standin):
    a, b = pg_nodes
    await a.claim(BOT, 1)
    runner, feed = live_bot(engine, a.for_bot(BOT, 1))
    running = asyncio.create_task(runner.run())
    await b.claim(BOT, 2)                   # a's lease ran out while it was paused; b took the bot

    feed.queue.put_nowait(Candle(*CANDLES[NOW_INDEX]))       # the candle a decides to buy on
    with pytest.raises(StaleFencingToken):
        await asyncio.wait_for(running, 5)

    assert runner.state is RunnerState.FAILED
    assert standin.orders == []
    assert [r.path for r in standin.requests if r.method == "POST"] == []
    assert b.events(BOT, kinds=("order",)) == []
