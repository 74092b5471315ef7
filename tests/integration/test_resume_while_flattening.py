"""`botrunner resume` of a bot still closing the position its kill left open.

- A resume that comes as the flatten completes (it waits for the candle being worked on, which
  fills the flatten) finds the bot done, killed, its run ending: it starts the bot again only
  once that run has ended, and says so if it has not within the grace. Before, it waited the
  grace and started a second run beside the first: two runners on one journal.
- `resume <basket>` brings back every leg: a leg other than the first still at work on its
  flatten is resumed in place. Before, it was neither resumed nor started again, and stayed down.

Each moment is held with an event (the stand-in's quote, a feed cursor's close, a leg's next
candle) and released by the test. A real BotManager, SQLite journal and snapshot files; a paper
bot over real ccxt against the local stand-in, and a sim basket on a paced synthetic market.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from execution.exchange import ExchangeAccounts
from market.shared import FeedHub
from runner.config.basket import load_bot_or_basket
from runner.config.bot import BotConfig
from runner.control.errors import BotStateError
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import Hold, eventually
from tests.trio_basket import LEGS, SYMBOLS, write_trio_basket
from tests.wall_clock_standin import wall_clock_standin


class HeldCursor:
    """A feed cursor whose `aclose` (with `hold_close`) or next batch once `hold_batches()` is
    true (with `hold_batch`) waits for its hold, the first time; otherwise the cursor it wraps."""

    def __init__(self, cursor, hub: HeldFeeds) -> None:
        self._cursor, self._hub = cursor, hub

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)

    async def stream(self):
        hold = self._hub.hold_batch
        async for batch in self._cursor.stream():
            if hold is not None and not hold.held.is_set() and self._hub.hold_batches():
                await hold.wait()
            yield batch

    async def aclose(self) -> None:
        hold = self._hub.hold_close
        if hold is not None and not hold.held.is_set():
            await hold.wait()
        await self._cursor.aclose()


class HeldFeeds(FeedHub):
    """A FeedHub whose cursors of `symbol` are `HeldCursor`s."""

    def __init__(self, symbol: str, *, hold_close: Hold | None = None, hold_batch: Hold | None = None) -> None:
        super().__init__()
        self.symbol, self.hold_close, self.hold_batch = symbol, hold_close, hold_batch
        self.hold_batches = lambda: False

    async def subscribe(self, key, *args, **kwargs):
        cursor = await super().subscribe(key, *args, **kwargs)
        return HeldCursor(cursor, self) if key.symbol == self.symbol else cursor

    async def subscribe_live(self, key, *args, **kwargs):
        cursor = await super().subscribe_live(key, *args, **kwargs)
        return HeldCursor(cursor, self) if key.symbol == self.symbol else cursor


def paper_bot(base_url: str) -> BotConfig:
    return BotConfig.model_validate({
        "id": "paper-a", "mode": "paper", "symbol": "BTC/USDT", "timeframe": "1s", "capital": 5_000,
        "exchange": {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.1,
                     "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                 "fetchMargins": False}},
        "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 4}}, "risk": {"stake_pct": 0.5}})


def daemon_services(root: Path, hub: FeedHub) -> DaemonServices:
    services = DaemonServices(hub=hub, journal=SqliteJournal(root / "journal.sqlite3"),
                              snapshots=SnapshotStore(root / "bots"), accounts=ExchangeAccounts())
    services.risk_groups.baskets.keep_in(services.snapshots)
    return services


def bot_tasks(bot_id: str) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"bot:{bot_id}" and not t.done()]


async def test_a_resume_as_the_flatten_completes_never_starts_a_second_run_beside_the_ending_one(tmp_path):
    ending = Hold()                 # the killed run's close of its feed: the run stays ending
    hub = HeldFeeds("BTC/USDT", hold_close=ending)
    services = daemon_services(tmp_path, hub)
    async with wall_clock_standin(600) as standin:
        manager = BotManager([paper_bot(standin.base_url)], services, exit_when_done=False,
                             stop_grace_secs=0.3, snapshot_interval_secs=3_600)
        stop = asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        try:
            await eventually(lambda: manager.status("paper-a").position != 0, 60.0, poll_secs=0.01)
            await eventually(lambda: not manager._slots["paper-a"].runner.busy, 30.0, poll_secs=0.001)
            # The kill's flatten finds no quote, so its order waits for the next candle's, which
            # the stand-in holds: the bot is at work on that candle, its turn held.
            standin.fail_next("GET /api/v3/ticker/*")
            quote = standin.hold_next("GET /api/v3/ticker/*")
            killed = await manager.kill("paper-a", "by hand")
            assert (killed.state, killed.flatten_pending) == ("killed", True)
            await eventually(lambda: quote not in standin.pending_faults, 30.0, poll_secs=0.005)

            quote.release.set()     # the flatten fills as the resume waits for that candle
            with pytest.raises(BotStateError) as refused:
                await manager.resume("paper-a")
            assert str(refused.value) == ("bot paper-a is still ending its run, killed, after 0.3s: its kill switch can "
                                          "be resumed once it shows killed. See: botrunner status paper-a")
            assert len(bot_tasks("paper-a")) == 1
            assert manager.status("paper-a").kill_switch
            assert services.journal.events("paper-a", kinds=("resume",)) == []

            ending.release.set()
            await eventually(lambda: not bot_tasks("paper-a"), 30.0, poll_secs=0.005)
            resumed = await manager.resume("paper-a")
            assert not resumed.kill_switch and resumed.position == 0
            bars = manager.status("paper-a").bars
            await eventually(lambda: manager.status("paper-a").state == "running"
                             and manager.status("paper-a").bars > bars, 30.0, poll_secs=0.01)
            assert len(bot_tasks("paper-a")) == 1
            assert len(services.journal.events("paper-a", kinds=("resume",))) == 1
        finally:
            quote_faults = [f for f in standin.pending_faults if f.release is not None]
            for fault in quote_faults:
                fault.release.set()
            ending.release.set()
            stop.set()
            await asyncio.wait_for(running, 30)
            await services.aclose()
            services.journal.close()


async def test_a_basket_resumed_while_a_later_leg_still_closes_its_position_brings_every_leg_back(tmp_path):
    legs = load_bot_or_basket(write_trio_basket(tmp_path, bars=50_000, speed=3_000)).legs()
    held = Hold()                   # the last leg's next candle, which would fill its flatten
    hub = HeldFeeds(SYMBOLS[2], hold_batch=held)
    services = daemon_services(tmp_path, hub)
    manager, stop = BotManager(legs, services, exit_when_done=False), asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: manager.status(LEGS[2]).position != 0, 60.0, poll_secs=0.005)
        hub.hold_batches = lambda: True
        await eventually(held.held.is_set, 20.0, poll_secs=0.005)       # between its candles, none in hand
        await manager.kill("trio", "by hand")
        last = manager.status(LEGS[2])
        assert (last.state, last.flatten_pending) == ("killed", True)
        await eventually(lambda: all(manager.status(leg).state == "killed" and not manager.status(leg).flatten_pending
                                     for leg in LEGS[:2]), 20.0, poll_secs=0.005)

        await manager.resume("trio")
        held.release.set()
        bars = {leg: manager.status(leg).bars for leg in LEGS}
        await eventually(lambda: all(manager.status(leg).state == "running" and manager.status(leg).bars > bars[leg]
                                     for leg in LEGS), 10.0, poll_secs=0.005)
        assert not any(manager.status(leg).kill_switch for leg in LEGS)
        assert all(len(services.journal.events(leg, kinds=("resume",))) == 1 for leg in LEGS)
        assert all(len(bot_tasks(leg)) == 1 for leg in LEGS)
    finally:
        held.release.set()
        stop.set()
        await asyncio.wait_for(running, 20)
        await services.aclose()
        services.journal.close()
