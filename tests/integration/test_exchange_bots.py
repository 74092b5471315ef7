"""Paper and live bots under the BotManager, against the Binance stand-in through real ccxt.

Time: the stand-in's clock is the exchange's, and the bots' clock reads it; a bot "sleeping"
until the next candle closes moves it forward, so an hour of 1m candles passes in a second.
A crash is simulated in-process: the bots' tasks are cancelled without a clean stop, the
journal's uncommitted rows are rolled back, and a new manager starts on the same state folder.
"""

from __future__ import annotations

import pytest

from market.shared import FeedHub
from execution.exchange import ExchangeAccounts
from execution.order_ids import order_id_prefix
from runner.bot.clock import SYSTEM_CLOCK
from runner.config.bot import BotConfig
from runner.state.journal import SqliteJournal
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG
from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.ledger import base_moved
from execution.standin.tapes import wavy_candles
from tests.fakes import eventually
from tests.integration.manager_runs import ManagerRun, crash
from tests.wall_clock_standin import wall_clock_standin

T0_MS = 1_704_067_200_000
MIN = 60_000
KEYS = {"BR_KEY": "test-key", "BR_SECRET": "test-secret"}

# `crash` is manager_runs' now; tests that take it from here still find it.
__all__ = ["crash"]


def bot(bot_id: str, mode: str, base_url: str, *, exchange_extra: dict | None = None, **extra) -> BotConfig:
    exchange = {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.5,
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
                **(exchange_extra or {})}
    if mode == "live":
        exchange |= {"api_key_env": "BR_KEY", "secret_env": "BR_SECRET"}
    return BotConfig.model_validate({
        "id": bot_id, "mode": mode, "symbol": "BTC/USDT", "timeframe": "1m", "capital": 5_000,
        "exchange": exchange, "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
        "risk": {"stake_pct": 0.5}, **extra,
    })


def services_for(tmp_path, clock) -> DaemonServices:
    return DaemonServices(hub=FeedHub(clock=clock), journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                          snapshots=SnapshotStore(tmp_path / "bots"), clock=clock,
                          accounts=ExchangeAccounts(environ=KEYS, clock=clock))


def until(condition):
    """`eventually`, polling every 10 ms for up to 20 s: a bot's candles run on the stand-in's clock."""
    return eventually(condition, 20.0, poll_secs=0.01)


@pytest.fixture
async def standin():
    async with BinanceStandIn(wavy_candles(600), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as s:
        yield s


def journalled(tmp_path, bot_id: str, kind: str) -> list[dict]:
    """The data of the bot's journal events of `kind`, read from the file as a restart would."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        return [e.data for e in journal.for_bot(bot_id).events(kinds=(kind,))]
    finally:
        journal.close()


def bot_trades(standin: BinanceStandIn, bot_id: str):
    prefix = order_id_prefix(bot_id)
    ours = {o.order_id for o in standin.orders if o.client_order_id.startswith(prefix)}
    return [t for t in standin.trades if t.order_id in ours]


async def test_paper_bot_trades_on_exchange_prices_and_sends_no_order(tmp_path, standin):
    async with ManagerRun([bot("paper-1", "paper", standin.base_url)],
                          services_for(tmp_path, FastForwardClock(standin))) as run:
        await until(lambda: run.manager.status("paper-1").fills >= 4)
    assert run.manager.status("paper-1").state == "stopped"
    assert not [r for r in standin.requests if r.method == "POST"]


ENTRY_MS, EXIT_MS = T0_MS + 62 * MIN, T0_MS + 65 * MIN      # candles of the stand-in's first minutes


@register
class EntersAndExitsOnce(Strategy):
    """Goes long on the candle of `ENTRY_MS`, flat on the candle of `EXIT_MS`, and says nothing on
    any other: once it is out, its bot sends no order by itself (a restart included), so any
    order after the exit is the restart policy's doing."""

    name = "test_enters_and_exits_once"

    def generate_signal(self, market_data):
        ts_ms = market_data.candle.ts_ms
        return GO_LONG if ts_ms == ENTRY_MS else GO_FLAT if ts_ms == EXIT_MS else None


async def crash_with_an_order_in_flight(tmp_path, standin, config: BotConfig, *, fills_first: int,
                                       hold_at_ms: int | None = None) -> int:
    """Run the bot until it has `fills_first` fills; then its next order reaches the exchange
    but the answer is lost, and the process dies before it learns the outcome. Returns how
    many orders the exchange had then. With `hold_at_ms` (the close of the candle whose order
    the test means) the clock stops short of it until the faults are armed, so they meet that
    order even when this test looks late (see `FastForwardClock.hold_at`); without, they meet
    whichever order comes next."""
    clock = FastForwardClock(standin)
    if hold_at_ms is not None:
        clock.hold_at(hold_at_ms)
    async with ManagerRun([config], services_for(tmp_path, clock)) as run:
        await until(lambda: run.manager.status(config.id).fills >= fills_first)
        standin.lose_response_next("POST /api/v3/order")
        lookup = standin.delay_next("GET /api/v3/order", 60)      # its lookup hangs until the crash
        orders_before = len(standin.orders)
        clock.release()
        await until(lambda: len(standin.orders) > orders_before and lookup not in standin.pending_faults)
        await run.crash()
    return len(standin.orders)


async def restart_until(tmp_path, standin, config: BotConfig, condition, *, before_stop=None) -> BotManager:
    """A new manager on the same state folder, run until `condition(status)`, then stopped
    (after `before_stop(services)`, when given)."""
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
        await until(lambda: condition(run.manager.status(config.id)))
        if before_stop is not None:
            before_stop(run.services)
    return run.manager


async def test_live_bot_ledger_equals_the_exchange_and_survives_a_crash(tmp_path, standin):
    config = bot("live-1", "live", standin.base_url, on_restart="resume")
    await crash_with_an_order_in_flight(tmp_path, standin, config, fills_first=3)
    manager = await restart_until(tmp_path, standin, config, lambda s: s.state == "running" and s.fills >= 6)

    status = manager.status("live-1")
    trades = bot_trades(standin, "live-1")
    assert status.position == pytest.approx(base_moved(trades), abs=1e-12)   # fees in BTC taken off
    assert status.position == pytest.approx(float(standin.balances["BTC"].free + standin.balances["BTC"].locked), abs=1e-12)
    assert status.fills == len(trades)
    assert max(standin.order_submissions.values()) == 1          # no client order id sent twice
    # and no decision sent twice under another id: the exchange's orders are the journalled ones,
    # at most one per candle and side
    decisions = journalled(tmp_path, "live-1", "order")
    assert sorted(o.client_order_id for o in standin.orders) == sorted(d["order_id"] for d in decisions)
    decided_on = [(d["created_ts_ms"], d["side"]) for d in decisions]
    assert len(set(decided_on)) == len(decided_on)


async def test_live_bot_with_on_restart_halt_refuses_to_trade_past_a_difference(tmp_path, standin):
    config = bot("live-2", "live", standin.base_url, on_restart="halt", strategy={"name": "test_enters_and_exits_once"})
    orders_at_crash = await crash_with_an_order_in_flight(tmp_path, standin, config, fills_first=1,
                                                          hold_at_ms=EXIT_MS + MIN)     # its exit's answer is lost
    subscribers = []
    manager = await restart_until(tmp_path, standin, config, lambda s: s.state == "failed", before_stop=lambda
                                  services: subscribers.extend(s.subscribers for s in services.hub.streams().values()))
    status = manager.status("live-2")
    assert "on_restart is halt" in status.last_error
    assert len(standin.orders) == orders_at_crash          # nothing sent after the restart
    # Its status shows the state it was restored to, not a bot that never ran.
    assert status.bars > 0 and status.fills == 1 and status.position > 0
    # And it let go of the shared candle feed: nothing polls on for nobody (at shutdown such a
    # feed outlived the exchange client it read from, an ERROR and a traceback every time).
    assert not any(subscribers)


async def test_on_restart_halt_starts_when_the_only_difference_is_an_order_that_never_reached_the_exchange(
        tmp_path, standin):
    config = bot("live-3", "live", standin.base_url, on_restart="halt")
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
        await until(lambda: run.manager.status("live-3").fills >= 1)
        standin.drop_next("POST /api/v3/order")                 # the connection drops before the exchange sees it
        lookup = standin.delay_next("GET /api/v3/order", 60)    # its lookup hangs until the crash
        await until(lambda: lookup not in standin.pending_faults)    # the lookup is under way
        await run.crash()
    [dropped] = [d["order_id"] for d in journalled(tmp_path, "live-3", "order")
                 if standin.order_by_client_id(d["order_id"]) is None]

    manager = await restart_until(tmp_path, standin, config, lambda s: s.state == "running" and s.bars >= 3)

    assert manager.status("live-3").last_error == ""
    # The dropped order never reached the exchange, and is not sent after the restart either
    # (the bot may trade on: its next order has the next id).
    assert standin.order_by_client_id(dropped) is None


async def test_stale_data_trips_the_kill_switch_when_the_risk_rule_asks(tmp_path):
    candles = wavy_candles(90)
    async with BinanceStandIn(candles, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = bot("paper-stale", "paper", standin.base_url, risk={"stake_pct": 0.5, "kill_on_stale_data": True})
        async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
            await until(lambda: run.manager.status("paper-stale").state == "killed")   # the tape runs out
    status = run.manager.status("paper-stale")
    assert status.kill_reason.startswith("stale data: no new BTC/USDT 1m candle")
    assert status.position == 0.0


async def test_a_bot_on_an_account_with_a_websocket_url_takes_its_candles_from_the_kline_stream(tmp_path):
    # Real time: nothing sleeps on a clock while candles come by websocket, so the stand-in
    # follows the wall clock and replays one-second candles around now.
    async with wall_clock_standin(180) as standin:
        config = bot("paper-ws", "paper", standin.base_url, timeframe="1s",
                     strategy={"name": "sma_cross", "params": {"fast": 2, "slow": 4}},
                     exchange_extra={"ws_url": standin.base_url.replace("http", "ws", 1)})
        async with ManagerRun([config], services_for(tmp_path, SYSTEM_CLOCK)) as run:
            await until(lambda: run.manager.status("paper-ws").bars >= 2)
            polled = len([r for r in standin.requests if r.path == "/api/v3/klines"])
            await until(lambda: run.manager.status("paper-ws").bars >= 5)
        assert standin.streams.subscribe_messages[0]["params"] == ["btcusdt@kline_1s"]
        assert len([r for r in standin.requests if r.path == "/api/v3/klines"]) == polled   # no polling
    status = run.manager.status("paper-ws")
    assert status.state == "stopped" and status.last_error == ""


@register
class BuysOnceAndHolds(Strategy):
    """Goes long at its third candle and never exits: the only order its bot sends by itself, so
    a test's armed fault can only meet the order the test means it for."""

    name = "test_buys_once_and_holds"

    def generate_signal(self, market_data):
        return GO_LONG if market_data.bar_index == 2 else None


async def crash_with_the_entry_unknown(tmp_path, standin, config: BotConfig):
    """The entry of a `test_buys_once_and_holds` bot (its third candle) reaches the exchange and
    fills, its answer is lost, its lookup hangs, the process dies. Its trade is missing from the
    trade list for two requests: the bot's own right after the lost answer, and the reconcile's
    at the restart; so only the entry's lookup can tell the bot. The clock is held meanwhile (the
    candle feed would run through the tape while the lookup hangs), leaving candles for the
    restart. Returns the entry, as the exchange has it."""
    clock = FastForwardClock(standin)
    clock.hold_at(standin.now_ms + 10 * MIN)
    services = services_for(tmp_path, clock)
    standin.lag_trades_next(requests=2)
    standin.lose_response_next("POST /api/v3/order")
    lookup = standin.delay_next("GET /api/v3/order", 60)
    async with ManagerRun([config], services) as run:
        await until(lambda: standin.orders and lookup not in standin.pending_faults)
        await run.crash()
    [entry] = standin.orders
    assert (entry.side, entry.status) == ("BUY", "FILLED")
    return entry


async def test_a_kill_whose_flatten_is_refused_shows_killed_and_retries_until_flat(tmp_path, standin):
    config = bot("live-k", "live", standin.base_url, strategy={"name": "test_buys_once_and_holds"})
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
        await until(lambda: run.manager.status("live-k").position > 0)
        standin.fail_next("POST /api/v3/order", status=400, code=-2010,
                          msg="Account has insufficient balance for requested action.")

        killed = await run.manager.kill("live-k", "by hand")

        assert (killed.state, killed.kill_switch) == ("killed", True)
        await until(lambda: not run.manager.status("live-k").flatten_pending)     # retried at a later candle
    lifecycle = journalled(tmp_path, "live-k", "lifecycle")
    assert [(d["state"], d.get("flatten_pending")) for d in lifecycle if d["state"] == "killed"] == [
        ("killed", True), ("killed", False)]                              # killed at once, flat later
    status = run.manager.status("live-k")
    assert status.state == "killed" and status.position == pytest.approx(
        float(standin.balances["BTC"].free + standin.balances["BTC"].locked), abs=1e-12)
    assert status.position < 0.00001                                      # dust under one lot step


async def test_on_restart_flatten_after_a_crash_mid_exit_books_the_exit_and_sells_nothing_more(tmp_path, standin):
    standin.set_balance("BTC", 1)            # other coins on the account: a second sell would go through
    config = bot("live-f", "live", standin.base_url, on_restart="flatten",
                 strategy={"name": "test_enters_and_exits_once"})
    clock = FastForwardClock(standin)
    # The exit's candle closes only once the faults below are armed, however late this test
    # sees the entry's fill (a loaded machine: the bot used to be past its exit by then).
    clock.hold_at(EXIT_MS + MIN)
    async with ManagerRun([config], services_for(tmp_path, clock)) as run:
        await until(lambda: run.manager.status("live-f").fills >= 1)
        # The exit reaches the exchange and fills, its answer is lost, its lookup hangs, the
        # process dies; and after the restart the trade list lags the order for one request.
        standin.lose_response_next("POST /api/v3/order")
        standin.lag_trades_next(requests=1)
        lookup = standin.delay_next("GET /api/v3/order", 60)
        orders_before = len(standin.orders)
        clock.release()
        await until(lambda: len(standin.orders) > orders_before and lookup not in standin.pending_faults)
        await run.crash()
    [exit_order] = standin.orders[orders_before:]
    assert (exit_order.side, exit_order.status) == ("SELL", "FILLED")

    manager = await restart_until(tmp_path, standin, config, lambda s: s.state == "running" and s.bars >= 2)

    sells = [o for o in standin.orders if o.side == "SELL" and o.client_order_id.startswith(order_id_prefix("live-f"))]
    assert sells == [exit_order]                                          # no flatten sell on top of it
    status = manager.status("live-f")
    assert status.position == pytest.approx(base_moved(bot_trades(standin, "live-f")), abs=1e-12)


async def test_a_bot_killed_with_its_flatten_unfinished_can_be_resumed_and_trades_on(tmp_path, standin):
    config = bot("live-r", "live", standin.base_url, strategy={"name": "test_buys_once_and_holds"})
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin)), stop_grace_secs=0.2) as run:
        await until(lambda: run.manager.status("live-r").position > 0)
        standin.fail_next("POST /api/v3/order", status=400, code=-2010, times=1_000,
                          msg="Account has insufficient balance for requested action.")
        killed = await run.manager.kill("live-r", "by hand")
        assert (killed.state, killed.flatten_pending) == ("killed", True)

        resumed = await run.manager.resume("live-r")

        assert (resumed.state, resumed.kill_switch, resumed.flatten_pending) == ("running", False, False)
        assert resumed.position == killed.position                 # the position stays; the strategy has it
        bars = resumed.bars
        await until(lambda: run.manager.status("live-r").bars >= bars + 2)
        assert run.manager.status("live-r").state == "running"


async def test_a_paper_bot_with_a_spread_breaker_refuses_entries_while_the_book_is_wide(tmp_path):
    # The stand-in quotes 2 bps either side of the close: a 4 bps spread, over a 3 bps limit.
    async with BinanceStandIn(wavy_candles(600), balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN,
                              spread_bps=4) as standin:
        config = bot("paper-spread", "paper", standin.base_url,
                     risk={"stake_pct": 0.5, "spread_breaker": {"max_bps": 3, "cooldown_candles": 0}})
        async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
            await until(lambda: run.manager.status("paper-spread").risk_blocks.get("spread_breaker", 0) >= 2)
    status = run.manager.status("paper-spread")
    assert status.fills == 0 and status.risk["spread_bps"] == pytest.approx(4.0, rel=0.01)
    [block, *_] = journalled(tmp_path, "paper-spread", "risk")
    assert block["rule"] == "spread_breaker" and block["verdict"] == "reject"


async def test_on_restart_flatten_waits_for_an_entry_of_unknown_outcome_then_closes_the_position_once(
        tmp_path, standin):
    config = bot("live-g", "live", standin.base_url, on_restart="flatten", strategy={"name": "test_buys_once_and_holds"})
    entry = await crash_with_the_entry_unknown(tmp_path, standin, config)
    # After the restart every lookup of it fails, until the test lets them through below.
    lookups = standin.fail_next("GET /api/v3/order", status=503, times=1_000)
    clock = FastForwardClock(standin)
    clock.hold_at(standin.now_ms + 5 * MIN)     # however late this test looks, the failures last
    async with ManagerRun([config], services_for(tmp_path, clock)) as run:
        await until(lambda: run.manager.status("live-g").bars >= 3 and lookups.remaining <= 1_000 - 3)
        # The flatten is owed and shown, and nothing is sent while the entry's outcome is unknown.
        owing = run.manager.status("live-g")
        assert (owing.state, owing.flatten_pending) == ("running", True)
        assert standin.orders == [entry]
        lookups.remaining = 1                  # one more failure, then the exchange answers again
        clock.release()
        clock.hold_at(standin.now_ms + 15 * MIN)    # 14 candles more: to flatten, then to trade on
        await until(lambda: not run.manager.status("live-g").flatten_pending
                    and run.manager.status("live-g").bars >= owing.bars + 10)
        status = run.manager.status("live-g")

    [buy, sell] = standin.orders                        # the entry, then one flatten sell: no new entry
    assert (buy, sell.side, sell.status) == (entry, "SELL", "FILLED")
    assert max(standin.order_submissions.values()) == 1  # nothing sent twice
    flattens = [d for d in journalled(tmp_path, "live-g", "order") if d["reason"] == "on_restart: flatten"]
    assert [d["order_id"] for d in flattens] == [sell.client_order_id]
    assert status.state == "running" and status.position == pytest.approx(
        base_moved(bot_trades(standin, "live-g")), abs=1e-12)
    assert status.position < 0.00001                    # flat: dust under one lot step at most
