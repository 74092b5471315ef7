"""A trailing stop comes back from a crash at the level it had trailed to, and exits where an
uninterrupted run exits: paper and live bots under the BotManager, on the Binance stand-in
through real ccxt (helpers, crash and clock from test_exchange_bots.py).

The tape: flat at 30,000, then up 1% a candle for 20 candles (the top), then 3% under the top and
flat (a 5% trail holds), then down 2% a candle until the stop is reached. The bot buys once and
holds; its only exit is the trailing stop. A paper or live bot does not re-run its candles after
a restart, and its snapshot is written after fills and every `snapshot_interval_secs`: on the
fast clock here (and an interval of an hour) the only one is the entry's, so a stop restored from it alone comes back at the
entry's level (about 28,500 instead of about 34,800).
"""

from __future__ import annotations

import asyncio

import pytest

from execution.order_ids import order_id_prefix
from execution.standin import BinanceStandIn, FastForwardClock
from market.models import iso_utc
from runner.config.bot import BotConfig
from market.files import load_candles
from market.shared import FeedHub
from runner.assembly.compose import sim_runner
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import GO_LONG
from tests.fakes import eventually
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, crash, journalled, services_for, until

TRAIL_PCT = 0.05
RISE, TOP, FALL = 62, 82, 110          # candle indexes: the rise starts, the top is behind, the fall starts


def tape() -> list[tuple[int, float, float, float, float, float]]:
    out, prev = [], 30_000.0
    for i in range(400):
        if i < RISE:
            close = 30_000.0
        elif i < TOP:
            close = prev * 1.01
        elif i == TOP:
            close = prev * 0.97
        elif i < FALL:
            close = prev
        else:
            close = prev * 0.98
        out.append((T0_MS + i * MIN, prev, max(prev, close) + 5, min(prev, close) - 5, close, 5.0))
        prev = close
    return out


TAPE = tape()
ENTRY_MS = T0_MS + 63 * MIN            # in the rise: the bot's third candle
TOP_HIGH = max(c[2] for c in TAPE)
LEVEL = TOP_HIGH * (1 - TRAIL_PCT)
# The candle whose low first reaches the trailed level, once the fall begins.
REACHING_MS = next(c[0] for c in TAPE[FALL:] if c[3] <= LEVEL)


@register
class BuysOnOneCandle(Strategy):
    """Goes long on the candle of `ENTRY_MS` only, whatever it has read before (a restarted bot
    reads fewer candles): its trailing stop is the bot's only exit, and nothing enters again."""

    name = "test_buys_on_one_candle"

    def generate_signal(self, market_data):
        return GO_LONG if market_data.candle.ts_ms == ENTRY_MS else None


def config_for(mode: str, base_url: str) -> BotConfig:
    return bot(f"{mode}-trail", mode, base_url, on_restart="resume", strategy={"name": "test_buys_on_one_candle"},
               risk={"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT})


def new_standin() -> BinanceStandIn:
    return BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN)


async def run_until(tmp_path, standin, config, *, hold_at_ms: int | None = None, condition=None,
                    then_crash: bool = False) -> BotManager:
    """A manager on the state folder, run until the bot has read the candles closing before
    `hold_at_ms` (held there) or until `condition(status)`; then stopped cleanly, or crashed."""
    clock = FastForwardClock(standin)
    if hold_at_ms is not None:
        clock.hold_at(hold_at_ms)
        last = iso_utc(hold_at_ms - 2 * MIN)        # the candle that closes a minute before the hold
        condition = condition or (lambda s: s.last_candle_time == last)
    services = services_for(tmp_path, clock)
    # Snapshots after fills and at a clean stop only: what a fast feed or a long interval leaves.
    manager = BotManager([config], services, exit_when_done=False, snapshot_interval_secs=3_600)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await until(lambda: condition(manager.status(config.id)))
    if then_crash:
        await crash(manager, services)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    else:
        stop.set()
        await asyncio.wait_for(running, 10)
        await services.aclose()
        services.journal.close()
    return manager


def trailing_level(tmp_path, bot_id: str) -> float:
    state = SnapshotStore(tmp_path / "bots").read(bot_id)
    [stop] = [o for o in state["open_orders"] if o["order_id"].endswith("-ts")]
    return stop["stop_price"]


def exited(status) -> bool:
    return status.fills >= 2


def exit_fills(tmp_path, bot_id: str) -> list[tuple[str, float, int]]:
    return [(f["order_id"], f["price"], f["fill_ts_ms"])
            for f in journalled(tmp_path, bot_id, "fill") if f["side"] == "sell"]


def exit_orders_sent(standin, bot_id: str) -> list[tuple[str, int]]:
    prefix = order_id_prefix(bot_id)
    return [(o.client_order_id, standin.order_submissions[o.client_order_id])
            for o in standin.orders if o.side == "SELL" and o.client_order_id.startswith(prefix)]


async def uninterrupted_exit(tmp_path, mode: str) -> list[tuple[str, float, int]]:
    tmp_path.mkdir()
    async with new_standin() as standin:
        config = config_for(mode, standin.base_url)
        await run_until(tmp_path, standin, config, condition=exited)
    return exit_fills(tmp_path, config.id)


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_a_trailing_stop_crashed_after_the_top_comes_back_at_the_top_and_exits_as_without_the_crash(
        tmp_path, mode):
    expected = await uninterrupted_exit(tmp_path / "alone", mode)
    async with new_standin() as standin:
        config = config_for(mode, standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (FALL - 5) * MIN, then_crash=True)
        assert trailing_level(tmp_path, config.id) < 30_000     # the snapshot on disk: the entry's

        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)
        assert trailing_level(tmp_path, config.id) == pytest.approx(LEVEL, rel=1e-12)

        await run_until(tmp_path, standin, config, condition=exited)
        assert exit_fills(tmp_path, config.id) == expected
        [(order_id, fill_ts_ms)] = [(f[0], f[2]) for f in expected]
        assert order_id.endswith("-ts") and fill_ts_ms >= REACHING_MS
        if mode == "live":
            assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_a_trailing_stop_trails_the_candles_that_closed_while_the_daemon_was_down(tmp_path, mode):
    expected = await uninterrupted_exit(tmp_path / "alone", mode)
    async with new_standin() as standin:
        config = config_for(mode, standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (RISE + 8) * MIN, then_crash=True)
        standin.advance(20 * MIN)                       # down while the price runs to its top

        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)
        assert trailing_level(tmp_path, config.id) == pytest.approx(LEVEL, rel=1e-12)

        await run_until(tmp_path, standin, config, condition=exited)
        assert exit_fills(tmp_path, config.id) == expected


async def test_a_paper_stop_reached_while_the_daemon_was_down_fills_at_that_candle_as_without_the_crash(tmp_path):
    expected = await uninterrupted_exit(tmp_path / "alone", "paper")
    async with new_standin() as standin:
        config = config_for("paper", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (FALL - 5) * MIN, then_crash=True)
        standin.advance(REACHING_MS + 5 * MIN - standin.now_ms)      # down until the fall is past the stop

        manager = await run_until(tmp_path, standin, config, condition=exited)

        assert exit_fills(tmp_path, config.id) == expected
        [(_, price, fill_ts_ms)] = expected
        assert (price, fill_ts_ms) == (pytest.approx(LEVEL, rel=1e-12), REACHING_MS)
        assert manager.status(config.id).position == 0


async def test_a_live_stop_reached_while_the_daemon_was_down_is_sent_once_when_it_starts(tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (FALL - 5) * MIN, then_crash=True)
        standin.advance(REACHING_MS + 5 * MIN - standin.now_ms)
        candles_read = SnapshotStore(tmp_path / "bots").read(config.id)["bars"]

        manager = await run_until(tmp_path, standin, config, condition=exited)

        [(order_id, sent)] = exit_orders_sent(standin, config.id)
        assert order_id.endswith("-ts") and sent == 1
        # Booked as the bot starts, before it reads a new candle: not once the price falls as far
        # as the entry's stop (the fast clock here runs on while the bot starts, so its time says little).
        journal = SqliteJournal(tmp_path / "journal.sqlite3")
        try:
            [exit_fill] = [e for e in journal.for_bot(config.id).events(kinds=("fill",)) if e.data["order_id"] == order_id]
        finally:
            journal.close()
        assert exit_fill.bar == candles_read - 1
        assert manager.status(config.id).position < 0.00001          # dust under one lot step


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_an_exit_filled_past_the_snapshot_is_not_restored_nor_carried_out_again(tmp_path, mode):
    async with new_standin() as standin:
        config = config_for(mode, standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)
        snapshots = SnapshotStore(tmp_path / "bots")
        before_the_exit = snapshots.path(config.id).read_bytes()
        await run_until(tmp_path, standin, config, condition=exited)
        # The exit's fill is in the journal; the snapshot on disk is from before it, as when the
        # process dies between the journal's commit and the snapshot's write.
        snapshots.path(config.id).write_bytes(before_the_exit)

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 10 * MIN))

        assert len(exit_fills(tmp_path, config.id)) == 1
        assert manager.status(config.id).fills == 2
        assert manager.status(config.id).position == pytest.approx(0.0, abs=0.00001)
        if mode == "live":
            assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]


async def test_a_sim_bot_crashed_after_the_top_re_runs_its_candles_and_exits_as_without_the_crash(tmp_path):
    # Sim re-runs its candles from the snapshot, checked against the journal: the trailing stop
    # trails them again (no catch-up needed), and the run ends where the uninterrupted one does.
    path = tmp_path / "tape.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{iso_utc(ts)},{o!r},{h!r},{low!r},{c!r},{v!r}\n" for ts, o, h, low, c, v in TAPE))
    fields = {"id": "sim-trail", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 5_000,
              "market": {"source": "csv", "path": str(path)}, "strategy": {"name": "test_buys_on_one_candle"},
              "risk": {"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT}}
    alone = sim_runner(BotConfig.model_validate(fields), load_candles(path).candles)
    await alone.run()
    assert alone.portfolio.quantity == 0 and alone.fills == 2          # in, and out by the trailing stop

    services = sim_services(tmp_path)
    manager = BotManager([BotConfig.model_validate({**fields, "speed": 1_500})], services, exit_when_done=False,
                         snapshot_interval_secs=3_600)
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: manager.status("sim-trail").bars >= TOP + 5, timeout_secs=30, poll_secs=0.005)
    await crash(manager, services)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert manager.status("sim-trail").fills == 1                      # crashed before the exit
    assert trailing_level(tmp_path, "sim-trail") < 30_000              # the snapshot on disk: the entry's

    services = sim_services(tmp_path)
    await asyncio.wait_for(BotManager([BotConfig.model_validate(fields)], services).run(asyncio.Event()), 30)
    services.close()

    state = SnapshotStore(tmp_path / "bots").read("sim-trail")
    assert state["bars"] == len(TAPE) and state["portfolio"] == alone.snapshot()["portfolio"]
    [(order_id, price, _)] = exit_fills(tmp_path, "sim-trail")
    assert order_id.endswith("-ts") and price == pytest.approx(LEVEL, rel=1e-12)


def sim_services(tmp_path) -> DaemonServices:
    return DaemonServices(hub=FeedHub(), journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                          snapshots=SnapshotStore(tmp_path / "bots"))


async def test_a_live_exit_whose_answer_was_lost_before_a_crash_is_adopted_and_not_sent_again(tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)   # its stop at the top's level
        clock = FastForwardClock(standin)
        clock.hold_at(REACHING_MS + MIN)                 # the candle reaching the stop closes then
        services = services_for(tmp_path, clock)
        manager = BotManager([config], services, exit_when_done=False, snapshot_interval_secs=3_600)
        running = asyncio.create_task(manager.run(asyncio.Event()))
        await until(lambda: manager.status(config.id).last_candle_time == iso_utc(REACHING_MS - MIN))
        # The exit reaches the exchange and fills; its answer is lost, its lookup hangs, the process dies.
        standin.lose_response_next("POST /api/v3/order")
        lookup = standin.delay_next("GET /api/v3/order", 60)
        clock.release()
        await until(lambda: exit_orders_sent(standin, config.id) and lookup not in standin.pending_faults)
        await crash(manager, services)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 5 * MIN))

        [(order_id, sent)] = exit_orders_sent(standin, config.id)
        assert order_id.endswith("-ts") and sent == 1
        assert [f["order_id"] for f in journalled(tmp_path, config.id, "fill") if f.get("adopted")] == [order_id]
        # The exit's intent was journalled before it left: its entry's exits came back held beside
        # it, not armed (under the ids of a next exit, had it never landed), and go once
        # reconciliation finds it filled.
        assert [(c["order_id"], c["why"]) for c in journalled(tmp_path, config.id, "cancel")] == [
            (f"{order_id}2", "exit filled")]
        assert SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"] == []
        assert manager.status(config.id).position < 0.00001
