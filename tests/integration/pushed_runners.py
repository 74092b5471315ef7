"""Strategy runners fed candle by candle by the test, on the Binance stand-in of
tests/standin_exchange.py (its sample market): `push(i)` moves the stand-in to candle i (it trades
the candle's range as it opens), hands the closed candle i to the bot, and returns once the bot
has read it and is idle again.

Offered to every integration test by tests/integration/conftest.py; the limit-order tests
(test_limit_orders_live, test_limit_exit_expiry_live) wrap it in a factory of their own bot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from execution.exchange import ExchangeAccount
from execution.live import LiveExecution
from execution.paper import PaperExecution
from execution.quotes import CcxtQuotes
from market.models import Candle
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.clock import ManualClock
from runner.bot.strategy_runner import StrategyRunner
from runner.state.journal import MemoryJournal
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.exchange_standin.sample_market import candle_ms, make_candles

SYMBOL = "BTC/USDT"
CANDLES = make_candles()

Push = Callable[[int], Awaitable[None]]


def cancels(runner: StrategyRunner) -> list[str]:
    """Why each of the runner's cancels was made, as journalled, in order."""
    return [e.data["why"] for e in runner.journal.of_kind("cancel")]


def live_engine(account: ExchangeAccount, prefix: str) -> LiveExecution:
    """A live engine on `account` whose clock stands at the stand-in's first candle, reconciling
    never by itself (a test's pushes decide what the exchange sees)."""
    return LiveExecution(account, SYMBOL, order_id_prefix=prefix, clock=ManualClock(candle_ms(60)),
                         reconcile_every_candles=0)


def paper_engine(account: ExchangeAccount) -> PaperExecution:
    """A paper engine on the stand-in's quotes, its clock in candle 61 (the first candle pushed
    after the one an entry is decided on)."""
    return PaperExecution(CcxtQuotes(account.client), SYMBOL, fee_rate=0.001, now_ms=lambda: candle_ms(61))


@pytest.fixture
async def pushed_runners(standin) -> AsyncIterator[Callable[..., tuple[StrategyRunner, Push]]]:
    """Factory: `pushed_runners(bot_id, engine, script, risk, prefix, journal=None, before_run=None,
    candles=CANDLES)` (`candles`: the market of the test's own stand-in, where it has one)
    -> (runner, push): a `Scripted(script)` bot on `engine` with 1,000 of capital, running; with
    `before_run(runner)` called first (a restart restores it there). Its task ends at teardown."""
    tasks: list[asyncio.Task] = []

    def make(bot_id: str, engine: Any, script: dict, risk: RiskConfig, prefix: str, *,
             journal: Any = None, before_run: Callable[[StrategyRunner], Any] | None = None,
             candles: list[tuple] = CANDLES) -> tuple[StrategyRunner, Push]:
        feed = QueuedFeed(SYMBOL)
        runner = StrategyRunner(bot_id, feed=feed, strategy=Scripted(script), execution=engine,
                                risk=RuleRiskEngine.from_config(risk), portfolio=Portfolio(SYMBOL, 1_000.0),
                                journal=journal if journal is not None else MemoryJournal(), order_id_prefix=prefix)
        if before_run is not None:
            before_run(runner)
        tasks.append(asyncio.create_task(runner.run()))

        async def push(i: int) -> None:
            standin.advance_to(candle_ms(i))
            seen = runner.bars
            feed.queue.put_nowait(Candle(*candles[i]))
            await eventually(lambda: runner.bars > seen and not runner.busy, 3.0, poll_secs=0.01)
        return runner, push

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
