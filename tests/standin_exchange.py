"""The Binance stand-in and exchange accounts on it, as fixtures, for the tests that trade through
the real ccxt client: tests/integration/conftest.py offers them to every integration test
(test_live_execution, test_limit_orders_live, test_live_exchange_races, ...),
tests/unit/exchange_standin/conftest.py its `standin` to the stand-in's own tests, and a test
elsewhere imports them by name (tests/unit/execution/test_trailing_stop.py).

The stand-in serves the market of tests.unit.exchange_standin.sample_market: its clock starts at
candle 60 (close 30600; bid 30596.94, ask 30603.06 with its 2 bps spread); after it closes fall
by 20 a candle and lows sit 25 under the body, so a buy limit at 30500 is first reached by
candle 64. The account holds 10,000 USDT and pays a 0.1% fee.

A module with a market or a clock of its own defines its own `standin` or `clock`: pytest takes
the module's fixture over this one, for the fixtures here that ask for it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from execution.exchange import ExchangeAccount, ExchangeAccounts
from execution.exchange_config import ExchangeConfig
from execution.standin import BinanceStandIn
from execution.standin.ccxt_client import fast_client
from runner.bot.clock import ManualClock
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms, make_candles

KEY_ENV, SECRET_ENV = "BR_LIVE_KEY", "BR_LIVE_SECRET"      # only ever in the accounts' own environ


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with BinanceStandIn(make_candles(), balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(NOW_INDEX),
                              fee_rate=0.001, spread_bps=2) as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    """The accounts' and engines' clock (their back-offs sleep on it), apart from the stand-in's."""
    return ManualClock(1_700_000_000_000)


@pytest.fixture
async def accounts(standin, clock) -> AsyncIterator[Callable[..., ExchangeAccount]]:
    """Factory: `accounts(secret=..., timeout_secs=...)` -> an ExchangeAccount on the stand-in, each
    in a registry of its own (a process of its own); `changes` go into its ExchangeConfig. All are
    closed at teardown, which then checks that ccxt asked for nothing the stand-in does not serve."""
    registry: list[ExchangeAccounts] = []

    def make(*, secret: str | None = None, **changes: Any) -> ExchangeAccount:
        environ = {KEY_ENV: standin.api_key, SECRET_ENV: standin.secret if secret is None else secret}
        registry.append(ExchangeAccounts(environ=environ, client_factory=fast_client, clock=clock))
        fields = dict(id="binance", account="main", api_key_env=KEY_ENV, secret_env=SECRET_ENV,
                      base_url=standin.base_url, timeout_secs=5)
        return registry[-1].get(ExchangeConfig(**(fields | changes)))

    yield make
    for accounts_ in registry:
        await accounts_.aclose()
    assert standin.unserved == []          # nothing outside the spot endpoints it serves


@pytest.fixture
def account(accounts) -> ExchangeAccount:
    return accounts()
