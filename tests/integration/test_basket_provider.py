"""A basket fed by a symbol provider: symbols added and retired while the daemon runs."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from execution.standin import BinanceStandIn
from market.clock import SYSTEM_CLOCK
from market.shared import FeedHub
from runner.basket.provider import BasketRefresher, FileSource
from runner.config.basket import load_bot_or_basket
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_LONG
from tests.daemon_process import connected, start_daemon, stop_daemon
from tests.fakes import eventually


@register
class AlwaysLong(Strategy):
    """Enters at the first candle and never exits: a leg that holds a position when retired."""

    name = "test_always_long"

    def generate_signal(self, market_data):
        return GO_LONG


BASKET = """\
id: fed
symbol_provider: {{source: file, path: {path}, refresh_secs: 1}}
on_retire: {on_retire}
stake_amount: 1000
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 2, bars: 100000}}
strategy: {{name: {strategy}, params: {params}}}
speed: {speed}
"""


def write_basket(folder: Path, *, on_retire: str = "exit", strategy: str = "test_always_long", params: str = "{}",
                 speed: float = 600) -> Path:
    (folder / "symbols.txt").write_text("BTC/USDT\nETH/USDT\n")
    path = folder / "fed.yaml"
    path.write_text(BASKET.format(path=folder / "symbols.txt", on_retire=on_retire, strategy=strategy,
                                  params=params, speed=speed))
    return path


@pytest.fixture
def services(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    made = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    yield made
    made.close()
    journal.close()


def running_starts(services: DaemonServices, bot_id: str) -> int:
    return sum(1 for e in services.journal.events(bot_id) if e.kind == "lifecycle" and e.data["state"] == "running")


@pytest.mark.parametrize("on_retire", ["exit", "hold"])
async def test_a_retired_symbol_is_sold_or_held_and_a_new_one_starts_without_a_restart(tmp_path, services, on_retire):
    basket = load_bot_or_basket(write_basket(tmp_path, on_retire=on_retire))
    services.risk_groups.baskets.keep_in(services.snapshots)
    refresher = BasketRefresher(basket, FileSource(tmp_path / "symbols.txt"))
    manager = BotManager(refresher.legs(), services)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: all(manager.status(f"fed.{s}").position > 0 for s in ("btc-usdt", "eth-usdt")),
                         timeout_secs=20, poll_secs=0.02)
        assert not await refresher.refresh(manager)                  # the same list: nothing to do

        (tmp_path / "symbols.txt").write_text("ETH/USDT\nSOL/USDT\n")
        assert await refresher.refresh(manager)
        await eventually(lambda: manager.status("fed.sol-usdt").position > 0, timeout_secs=20, poll_secs=0.02)
        if on_retire == "exit":
            # It held a position: kept, retiring, sold at once; SOL's leg waited for it to start
            # again (runner.basket.group), so it may be flat and gone already.
            await eventually(lambda: "fed.btc-usdt" not in {s.id for s in manager.statuses()}
                             or manager.status("fed.btc-usdt").position == 0, timeout_secs=20, poll_secs=0.02)
            sold = [e for e in services.journal.events("fed.btc-usdt")
                    if e.kind == "fill" and e.data["side"] == "sell"]
            assert [e.data["reason"] for e in sold] == ["BTC/USDT retired from basket fed"]
            await refresher.refresh(manager)                         # flat now: it leaves
            assert "fed.btc-usdt" not in {s.id for s in manager.statuses()}
            roster = services.snapshots.read("fed.roster")           # what it made or lost stays the basket's
            assert roster["symbols"] == ["ETH/USDT", "SOL/USDT"] and roster["settled"]["BTC/USDT"] != 0
        else:
            btc = manager.status("fed.btc-usdt")                     # it held a position: kept, retiring
            assert btc.position > 0
            await refresher.refresh(manager)                         # still held: it stays, entering nothing
            assert manager.status("fed.btc-usdt").position == btc.position
            assert manager.configs()[0].basket is not None
            assert {c.symbol for c in manager.configs() if c.basket.retiring} == {"BTC/USDT"}
        assert running_starts(services, "fed.eth-usdt") == 1         # the leg that stayed ran on untouched
        assert manager.status("fed.eth-usdt").state == "running"
        cash = {manager.status(s.id).risk_group["cash"] for s in manager.statuses()}
        assert len(cash) == 1                                        # still one balance for every leg
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
    if on_retire == "exit":
        await restarts_with_the_same_cash(tmp_path, basket, services, cash.pop())


async def restarts_with_the_same_cash(tmp_path: Path, basket, services: DaemonServices, cash: float) -> None:
    """A new manager on the same state (a restart): the legs still there restore their shares of
    the cash, and the one that left (BTC) its settled flow, from the basket's roster."""
    again = DaemonServices(hub=FeedHub(), journal=services.journal, snapshots=SnapshotStore(tmp_path / "bots"))
    again.risk_groups.baskets.keep_in(again.snapshots)
    manager = BotManager(BasketRefresher(basket, FileSource(tmp_path / "symbols.txt")).legs(), again)
    assert [c.symbol for c in manager.configs()] == ["ETH/USDT", "SOL/USDT"]
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: all(s.state == "running" for s in manager.statuses()), timeout_secs=20, poll_secs=0.02)
        assert [s.risk_group["cash"] for s in manager.statuses()] == [pytest.approx(cash, rel=1e-12)] * 2
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
        again.checkpoints.close()


async def test_a_failing_provider_keeps_the_basket_as_it_is(tmp_path, services, log_records):
    basket = load_bot_or_basket(write_basket(tmp_path))
    refresher = BasketRefresher(basket, FileSource(tmp_path / "symbols.txt"))
    manager = BotManager(refresher.legs(), services)
    (tmp_path / "symbols.txt").write_text("BTC/USDT\nnot a symbol\n")
    assert not await refresher.refresh(manager)
    assert refresher.symbols == ["BTC/USDT", "ETH/USDT"] and len(manager.configs()) == 2
    [warning] = [r for r in log_records if r["level"].name == "WARNING"]
    assert "symbol provider failed" in warning["message"] and "line 2" in warning["message"]


async def test_a_daemon_adds_a_symbol_its_basket_file_gains():
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="br-"))        # a Unix socket path must stay short
    try:
        (root / "config" / "bots").mkdir(parents=True)
        (root / "config" / "daemon.yaml").write_text("stop_grace_secs: 5\n")
        path = write_basket(root / "config", strategy="ema_cross", params="{fast: 5, slow: 20}")
        shutil.move(path, root / "config" / "bots" / "fed.yaml")
        daemon = start_daemon(root / "config", root / "state")
        try:
            client = await connected(root / "state" / "botrunner.sock")
            try:
                assert {b.id for b in await client.bots()} == {"fed.btc-usdt", "fed.eth-usdt"}
                (root / "config" / "symbols.txt").write_text("BTC/USDT\nETH/USDT\nSOL/USDT\n")
                async with asyncio.timeout(60):
                    while "fed.sol-usdt" not in {b.id for b in await client.bots()}:
                        await asyncio.sleep(0.1)
                async with asyncio.timeout(60):
                    while (await client.bot("fed.sol-usdt")).state != "running":
                        await asyncio.sleep(0.1)
                assert daemon.poll() is None                               # no restart of the daemon
            finally:
                await client.aclose()
        finally:
            stop_daemon(daemon)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_one_leg_tripping_the_latch_makes_every_other_leg_close_its_position_at_once(tmp_path, services):
    basket = load_bot_or_basket(write_basket(tmp_path))
    manager = BotManager(basket.legs(), services)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: all(s.position > 0 for s in manager.statuses()), timeout_secs=20, poll_secs=0.02)
        await manager.kill("fed.btc-usdt", "one leg by hand")       # that leg alone
        await eventually(lambda: all(s.state == "killed" and s.position == 0 for s in manager.statuses()),
                         timeout_secs=20, poll_secs=0.02)
        kills = {leg: e.data for leg in ("fed.btc-usdt", "fed.eth-usdt")
                 for e in services.journal.events(leg, kinds=("kill",))}
        assert set(kills) == {"fed.btc-usdt", "fed.eth-usdt"}
        # The leg asked by hand journals "manual"; the other, closed with it by the latch they
        # share, "basket", with the same reason.
        assert kills["fed.btc-usdt"]["source"] == "manual"
        assert kills["fed.eth-usdt"]["source"] == "basket" and kills["fed.eth-usdt"]["reason"] == "one leg by hand"
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)


class HookedClock:
    """Wall-clock time whose next sleep first calls `then` (once). A paced stream sleeps right
    after it releases a candle, so `then` runs while that candle is on its way to its leg,
    before the leg has stepped on it: the turn a leg could step before the daemon's kill."""

    def __init__(self) -> None:
        self.then: Callable[[], None] | None = None

    def now_ms(self) -> int:
        return SYSTEM_CLOCK.now_ms()

    async def sleep(self, seconds: float) -> None:
        if (then := self.then) is not None:
            self.then = None
            then()
        await asyncio.sleep(seconds)


async def test_a_leg_whose_candle_is_on_its_way_when_the_latch_trips_closes_before_stepping_on_it(tmp_path):
    clock, journal = HookedClock(), SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(clock=clock), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    manager = BotManager(load_bot_or_basket(write_basket(tmp_path)).legs(), services)
    legs = ("fed.btc-usdt", "fed.eth-usdt")
    bars_at_trip: dict[str, int] = {}

    def trip() -> None:                # as a rule of another leg would, between two of its awaits
        bars_at_trip.update({leg: manager.status(leg).bars for leg in legs})
        services.risk_groups.baskets.group("fed").kill_switch.trip("tripped as a candle goes out", clock.now_ms())

    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: all(s.position > 0 for s in manager.statuses()), timeout_secs=20, poll_secs=0.02)
        clock.then = trip
        await eventually(lambda: all(s.state == "killed" and s.position == 0 for s in manager.statuses()),
                         timeout_secs=20, poll_secs=0.02)
        kills = {leg: [(e.data["source"], e.data["bars"]) for e in journal.events(leg, kinds=("kill",))] for leg in legs}
        # Killed by the daemon before the candle released with the trip: at the bars it had read then,
        # not a bar later (stepping on that candle first, it would have found the latch there).
        assert kills == {leg: [("basket", bars_at_trip[leg])] for leg in legs}
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
        services.close()
        journal.close()


TOP_VOLUME = """\
id: top
symbol_provider: {{source: top_volume, quote: USDT, count: 2, min_quote_volume: 1000, refresh_secs: 1}}
stake_amount: 1000
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 3, bars: 100000}}
strategy: {{name: ema_cross, params: {{fast: 5, slow: 20}}}}
speed: 600
exchange:
  id: binance
  base_url: {base_url}
  options: {{fetchMarkets: {{types: [spot]}}, fetchCurrencies: false, fetchMargins: false}}
"""


def stand_in_candles(volume: float, price: float) -> list[tuple]:
    start = 1_704_067_200_000
    return [(start + i * 60_000, price, price * 1.001, price * 0.999, price, volume) for i in range(200)]


async def test_a_daemon_follows_the_exchanges_top_volume_symbols(tmp_path):
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="br-"))
    try:
        async with BinanceStandIn(stand_in_candles(10, 30_000), symbol="BTC/USDT",
                                  start_ms=1_704_067_200_000 + 150 * 60_000) as standin:
            standin.list_symbol("ETH/USDT", stand_in_candles(500, 2_000))      # the most quote volume
            standin.list_symbol("SOL/USDT", stand_in_candles(1, 100))          # third: left out by count
            (root / "config" / "bots").mkdir(parents=True)
            (root / "config" / "daemon.yaml").write_text("stop_grace_secs: 5\n")
            (root / "config" / "bots" / "top.yaml").write_text(TOP_VOLUME.format(base_url=standin.base_url))
            daemon = start_daemon(root / "config", root / "state")
            try:
                client = await connected(root / "state" / "botrunner.sock")
                try:
                    assert {b.id for b in await client.bots()} == {"top.eth-usdt", "top.btc-usdt"}
                    standin.list_symbol("DOGE/USDT", stand_in_candles(10_000_000, 0.1))   # overtakes both
                    async with asyncio.timeout(90):
                        while {b.id for b in await client.bots()} != {"top.doge-usdt", "top.eth-usdt"}:
                            await asyncio.sleep(0.1)       # BTC/USDT left (sold first if it held a position)
                    assert daemon.poll() is None
                finally:
                    await client.aclose()
            finally:
                stop_daemon(daemon)
        assert ("GET", "/api/v3/ticker/24hr") in {(r.method, r.path) for r in standin.requests}
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_a_symbol_deleted_from_a_fixed_list_leaves_what_it_made_in_the_cash_after_a_restart(tmp_path, services):
    text = BASKET.format(path="-", on_retire="exit", strategy="ema_cross", params="{fast: 3, slow: 6}", speed=60_000)
    text = text.replace("symbol_provider: {source: file, path: -, refresh_secs: 1}", "symbols: [BTC/USDT, ETH/USDT]")
    (tmp_path / "fixed.yaml").write_text(text.replace("bars: 100000", "bars: 400"))
    both = load_bot_or_basket(tmp_path / "fixed.yaml")
    services.risk_groups.baskets.keep_in(services.snapshots)
    manager = BotManager(both.legs(), services)
    await asyncio.wait_for(manager.run(asyncio.Event()), 30)       # both legs to the end of their data
    statuses = {s.id: s for s in manager.statuses()}
    assert statuses["fed.btc-usdt"].trades > 0 and statuses["fed.btc-usdt"].position == 0
    cash = statuses["fed.eth-usdt"].risk_group["cash"]

    (tmp_path / "fixed.yaml").write_text(text.replace("bars: 100000", "bars: 400").replace(
        "symbols: [BTC/USDT, ETH/USDT]", "symbols: [ETH/USDT]"))             # BTC deleted by hand, then a restart
    again = DaemonServices(hub=FeedHub(), journal=services.journal, snapshots=SnapshotStore(tmp_path / "bots"))
    again.risk_groups.baskets.keep_in(again.snapshots)
    manager = BotManager(load_bot_or_basket(tmp_path / "fixed.yaml").legs(), again)
    try:
        await asyncio.wait_for(manager.run(asyncio.Event()), 30)
        assert manager.status("fed.eth-usdt").risk_group["cash"] == pytest.approx(cash, rel=1e-12)
        assert again.snapshots.read("fed.roster")["symbols"] == ["ETH/USDT"]
    finally:
        again.checkpoints.close()
