"""A governed live bot climbs from shadow to live against the Binance stand-in through real ccxt:
at L0 and L1 nothing is sent, each change of execution is journalled and done by rebuilding the
bot, and at L2 its orders reach the exchange at the safe-mode size."""

from __future__ import annotations

import asyncio

import pytest

from execution.exchange import ExchangeAccounts
from execution.order_ids import order_id_prefix
from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.tapes import wavy_candles
from market.shared import FeedHub
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually

T0_MS = 1_704_067_200_000
MIN = 60_000
KEYS = {"BR_KEY": "test-key", "BR_SECRET": "test-secret"}


def governed_live_bot(base_url: str) -> BotConfig:
    return BotConfig.model_validate({
        "id": "climber", "mode": "live", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 5_000,
        "exchange": {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.5, "api_key_env": "BR_KEY",
                     "secret_env": "BR_SECRET",
                     "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}},
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}}, "risk": {"stake_pct": 0.5},
        "on_restart": "resume", "safe_mode": {"size_multiplier": 0.2},
        "governance": {"enabled": True, "promotion": {"min_trades": 2, "min_win_rate": 0.0, "max_drawdown_pct": 1.0},
                       "demote_drawdown_pct": 1.0, "drift": {"enabled": False}},
    })


@pytest.fixture
async def standin():
    async with BinanceStandIn(wavy_candles(900), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as s:
        yield s


async def test_a_live_bot_goes_from_shadow_to_paper_to_live_by_rebuilds(tmp_path, standin):
    clock = FastForwardClock(standin)
    services = DaemonServices(hub=FeedHub(clock=clock), journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                              snapshots=SnapshotStore(tmp_path / "bots"), clock=clock,
                              accounts=ExchangeAccounts(environ=KEYS, clock=clock))
    manager = BotManager([governed_live_bot(standin.base_url)], services, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    prefix = order_id_prefix("climber")
    sent = lambda: [o for o in standin.orders if o.client_order_id.startswith(prefix)]      # noqa: E731
    try:
        await eventually(lambda: manager.status("climber").fills >= 2 and sent(), 30.0, poll_secs=0.01)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await services.aclose()
    journal = services.journal.for_bot("climber")
    governance = [(e.data["action"], e.data.get("to")) for e in journal.events(kinds=("governance",))]
    assert governance[:4] == [("promote", 1), ("switch", "paper"), ("promote", 2), ("switch", "live")]

    orders = [e for e in journal.events(kinds=("order",))]
    switch_to_live = next(e.seq for e in journal.events(kinds=("governance",)) if e.data.get("to") == "live")
    shadow = [e.data for e in orders if e.data.get("shadow")]
    assert shadow and all(e.seq < switch_to_live for e in orders if e.data.get("shadow"))
    live_ids = {o.client_order_id for o in sent()}
    assert live_ids and all(e.seq > switch_to_live for e in orders if e.data["order_id"] in live_ids)

    first_live_entry = next(e for e in orders if e.data["order_id"] in live_ids and e.data["side"] == "buy")
    fills_before = [e.data for e in journal.events(kinds=("fill",)) if e.seq < first_live_entry.seq]
    cash_then = fills_before[-1]["cash"] if fills_before else 5_000
    # L2: the stake (0.5) x safe_mode's 0.2 of the cash (health is 1.0 with so few trades).
    assert first_live_entry.data["quote_amount"] == pytest.approx(0.5 * 0.2 * cash_then)
    services.journal.close()
