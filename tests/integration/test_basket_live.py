"""A live basket's leg against the Binance stand-in through real ccxt: its entries are the
basket's stake, its fills spend the basket's one cash balance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from execution.order_ids import order_id_prefix
from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.tapes import wavy_candles
from runner.config.basket import basket_config_problems
from runner.daemon.manager import BotManager
from tests.integration.test_exchange_bots import KEYS, MIN, T0_MS, services_for, until


@pytest.fixture
async def standin():
    async with BinanceStandIn(wavy_candles(600), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as s:
        yield s


def live_basket(base_url: str, **fields):
    """The live basket of one symbol, `stake_amount: 1000`; `fields` added (a `stake_fraction` in place of the stake)."""
    raw = {"id": "live-basket", "mode": "live", "symbols": ["BTC/USDT"], "timeframe": "1m",
           "capital": 5_000, "max_open_positions": 1,
           "exchange": {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.5, "api_key_env": "BR_KEY",
                        "secret_env": "BR_SECRET",
                        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                    "fetchMargins": False}},
           "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
           **({} if "stake_fraction" in fields else {"stake_amount": 1_000}), **fields}
    basket, problems = basket_config_problems(Path("live-basket.yaml"), raw)
    assert basket is not None, problems
    return basket


async def test_a_live_basket_leg_sends_the_stake_and_books_its_fills_in_the_basket_cash(tmp_path, standin):
    assert set(KEYS) == {"BR_KEY", "BR_SECRET"}
    [leg] = live_basket(standin.base_url).legs()
    services = services_for(tmp_path, FastForwardClock(standin))
    manager = BotManager([leg], services, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await until(lambda: manager.status(leg.id).fills >= 4)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await services.aclose()
    orders = [e.data for e in services.journal.for_bot(leg.id).events(kinds=("order",))]
    entries = [o for o in orders if o["side"] == "buy"]
    assert entries and all(o["quote_amount"] == 1_000 for o in entries)        # the basket's stake
    sent = [o for o in standin.orders if o.client_order_id.startswith(order_id_prefix(leg.id))]
    assert len(sent) == len(orders)
    fills = [e.data for e in services.journal.for_bot(leg.id).events(kinds=("fill",))]
    cash = 5_000.0
    for fill in fills:                          # the cash after each fill is the basket's balance
        signed = fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
        cash -= signed * fill["price"] + fill["fee"]
        assert fill["cash"] == pytest.approx(cash, rel=1e-9)
    group = services.risk_groups.baskets.group("live-basket")
    assert group is not None and group.ledger.cash == pytest.approx(cash, rel=1e-9)
    services.journal.close()
