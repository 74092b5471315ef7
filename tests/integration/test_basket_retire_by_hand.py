"""A symbol deleted by hand from a basket's fixed `symbols:` while its leg holds a position: at the
reload its leg is retired under `on_retire` (exit: sold, then gone; hold: kept, entering nothing,
until its own exit, then gone), never left behind with a position nobody closes."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from market.shared import FeedHub
from runner.basket.roster import settle_leavers
from runner.config.basket import load_bot_or_basket
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG
from tests.fakes import eventually
from tests.integration.test_basket_provider import AlwaysLong

BLOCK_CANDLES = 300
# The synthetic candles' first minute: the blocks count from it, so the bot holds at once, early in
# its first block (counted from the epoch, the data began 120 minutes into a long block, and the
# test waited out 480 candles, about 5 s, for the next one to begin).
FIRST_MINUTE = 1_704_067_200_000 // 60_000


@register
class InAndOut(Strategy):
    """Long for 300 one-minute candles, flat for the next 300, by the candle's time counted from
    the data's first minute: a leg that holds a position and later exits by its own decision."""

    name = "test_in_and_out"

    def generate_signal(self, market_data):
        return GO_LONG if block_minute(market_data.candle.ts_ms // 60_000) < BLOCK_CANDLES else GO_FLAT


def block_minute(minute: int) -> int:
    """Where `minute` is in its long-then-flat cycle of 2 * BLOCK_CANDLES minutes."""
    return (minute - FIRST_MINUTE) % (2 * BLOCK_CANDLES)


BASKET = """\
id: fixed
symbols: {symbols}
on_retire: {on_retire}
stake_amount: 1000
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 3, bars: 100000}}
strategy: {{name: {strategy}}}
speed: 6000
"""


@pytest.fixture
def services(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    made = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    made.risk_groups.baskets.keep_in(made.snapshots)
    yield made
    made.close()
    journal.close()


def fills(services, bot_id: str) -> list:
    return [e for e in services.journal.events(bot_id) if e.kind == "fill"]


def early_in_a_long_block(status) -> bool:
    """Holding, with most of its block ahead: the reload sees the position (no race with its own exit)."""
    if not status.position or status.last_candle_time is None:
        return False
    minute = int(datetime.fromisoformat(status.last_candle_time).timestamp()) // 60
    return block_minute(minute) < BLOCK_CANDLES // 3


@pytest.mark.parametrize("on_retire", ["exit", "hold"])
async def test_a_symbol_deleted_by_hand_with_a_position_is_retired_not_left_behind(tmp_path, services, on_retire):
    strategy = AlwaysLong.name if on_retire == "exit" else InAndOut.name
    path = tmp_path / "fixed.yaml"
    path.write_text(BASKET.format(symbols="[BTC/USDT, ETH/USDT]", on_retire=on_retire, strategy=strategy))
    manager = BotManager(load_bot_or_basket(path).legs(), services,
                         reload_configs=lambda: load_bot_or_basket(path).legs())
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        ready = (lambda s: s.position > 0) if on_retire == "exit" else early_in_a_long_block
        await eventually(lambda: ready(manager.status("fixed.btc-usdt")) and manager.status("fixed.eth-usdt").position,
                         timeout_secs=30, poll_secs=0.01)
        path.write_text(BASKET.format(symbols="[ETH/USDT]", on_retire=on_retire, strategy=strategy))
        result = await manager.reload()
        assert result.restarted == ["fixed.btc-usdt"] and not result.removed     # kept, retiring
        assert manager.basket("fixed").legs[0].retiring
        bought_before = sum(1 for e in fills(services, "fixed.btc-usdt") if e.data["side"] == "buy")

        await eventually(lambda: "fixed.btc-usdt" not in {s.id for s in manager.statuses()}, timeout_secs=30,
                         poll_secs=0.02)                                       # flat, then gone
        btc = fills(services, "fixed.btc-usdt")
        assert sum(1 for e in btc if e.data["side"] == "buy") == bought_before  # it entered nothing retiring
        last_sell = [e for e in btc if e.data["side"] == "sell"][-1]
        if on_retire == "exit":
            assert last_sell.data["reason"] == "BTC/USDT retired from basket fixed"
        else:
            assert last_sell.data["reason"] != "BTC/USDT retired from basket fixed"   # its strategy's exit
        ledger = services.risk_groups.baskets.group("fixed").ledger
        roster = services.snapshots.read("fixed.roster")
        assert roster["symbols"] == ["ETH/USDT"] and roster["settled"]["BTC/USDT"] != 0   # what it made stays
        assert "BTC/USDT" not in ledger.open_positions()
        assert ledger.cash == pytest.approx(10_000 + ledger.legs["ETH/USDT"].flow + roster["settled"]["BTC/USDT"])
        assert manager.status("fixed.eth-usdt").state == "running"
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)


def test_a_symbol_deleted_while_the_daemon_was_down_with_a_position_is_said_at_the_start(tmp_path, log_records):
    store = SnapshotStore(tmp_path / "bots")
    store.write("fixed.roster", {"symbols": ["BTC/USDT", "ETH/USDT"], "settled": {}})
    store.write("fixed.btc-usdt", {"portfolio": {"quantity": 0.5, "flow": -500.0}})
    assert settle_leavers(store, "fixed", {"ETH/USDT"}, None) == {"BTC/USDT": -500.0}
    errors = [r["message"] for r in log_records if r["level"].name == "ERROR"]
    assert len(errors) == 1 and "BTC/USDT left its symbols while the daemon was down" in errors[0]
    assert "holds 0.5" in errors[0] and "put BTC/USDT back in symbols:" in errors[0]
