"""A live bot on a host whose clock is off the exchange's, against the Binance stand-in through the
real ccxt client.

Binance refuses a SIGNED request unless `timestamp < serverTime + 1000` and
`serverTime - timestamp <= recvWindow` (-1021; spot REST docs, "Timing security"), before
processing it. ccxt signs with the host's clock unless told the difference
(`adjustForTimeDifference`, off by default): a host 2 s ahead had every signed request refused,
so a live bot never got past its start (its reconciliation) and could never look up an order.

The stand-in here follows the wall clock with its server clock 2 s behind the host's: one clock,
as on Binance, told by `GET /api/v3/time` and checked on every signed request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from execution.live import LiveExecution
from execution.models import Order, Side
from execution.reconcile import reconcile
from execution.standin import BinanceStandIn
from runner.bot.clock import ManualClock
from tests.wall_clock_standin import wall_clock_standin

SYMBOL, PREFIX = "BTC/USDT", "brclock001-"
HOST_AHEAD_MS = 2_000


@pytest.fixture
async def standin() -> AsyncIterator[BinanceStandIn]:
    async with wall_clock_standin(600) as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000_000)


@pytest.mark.parametrize(("host_ahead_ms", "said"), [(HOST_AHEAD_MS, "ms ahead of"), (-15_000, "behind")],
                         ids=["2s-ahead", "15s-behind-past-recvWindow"])
async def test_a_bot_whose_clock_is_off_reconciles_on_the_exchanges_clock_and_trades(
        accounts, clock, standin, log_records, host_ahead_ms, said):
    standin.drift_clock(-host_ahead_ms)
    account = accounts()
    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=0)

    # What a live bot does at its start (runner.assembly.reconcile_on_start), then its first order.
    report = await reconcile(account, SYMBOL, prefix=PREFIX, known_open_orders=[], journal_fill_ids=set(),
                             since_ms=standin.server_ms - 3_600_000)
    [fill] = await engine.execute_signal(Order(f"{PREFIX}1", SYMBOL, Side.BUY, quantity=0.01))

    assert report.missing_fills == [] and report.unknown_open_orders == []
    assert (fill.client_order_id, fill.quantity) == (f"{PREFIX}1", 0.01)
    assert standin.order_submissions[f"{PREFIX}1"] == 1
    clock_lines = [r["message"] for r in log_records if "clock" in r["message"] and r["level"].name == "WARNING"]
    assert len(clock_lines) == 1 and f"{said} the exchange's" in clock_lines[0]


async def test_an_order_refused_for_its_timestamp_is_looked_up_on_the_exchanges_clock_never_resent(
        accounts, clock, standin, log_records):
    account = accounts()
    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=0)
    await account.load_markets()
    standin.drift_clock(-HOST_AHEAD_MS)              # the host's clock jumps ahead while the bot runs
    order = Order(f"{PREFIX}1", SYMBOL, Side.BUY, quantity=0.01)

    assert await engine.execute_signal(order) == []

    # Refused before processing, so not placed; the bot cannot know it did not land elsewhere
    # and looks it up, now signed on the exchange's clock, so the lookup answers.
    assert standin.orders == [] and standin.order_submissions[order.client_order_id] == 1
    assert engine.open_orders() == [order]                            # pending: never resent
    messages = [r["message"] for r in log_records]
    assert any(f"Order {order.client_order_id} not found yet (1 time(s))" in m for m in messages)
    assert not any("lookup by client order id failed" in m for m in messages)
