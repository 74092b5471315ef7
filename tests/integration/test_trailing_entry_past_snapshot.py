"""An entry whose fill the journal holds past the bot's last snapshot (the process died between
the fill's journal commit and the snapshot's write, or before any snapshot) gets its protective
exits back caught up on the candles since its fill: a trailing stop at the high-water mark since
the fill, and a stop those candles reached carried out once. Paper and live bots under the
BotManager on the Binance stand-in through real ccxt, on the tape and helpers of
test_trailing_stop_restart.py (entry in the rise, top at candle 82, fall from candle 110). A sim
bot has no such gap: it re-runs its candles, the entry among them (checked here too).
"""

from __future__ import annotations

import asyncio

import pytest

from market.files import load_candles
from market.models import iso_utc
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, crash, journalled
from tests.integration.test_trailing_stop_restart import (
    ENTRY_MS, FALL, LEVEL, REACHING_MS, TAPE, TOP, TRAIL_PCT, exit_fills, exit_orders_sent, exited, new_standin,
    run_until, sim_services, trailing_level, uninterrupted_exit,
)

BEFORE_THE_ENTRY_MS = ENTRY_MS + MIN          # held here, the bot has read the candle before the entry's


def config_for(mode: str, base_url: str) -> BotConfig:
    """test_trailing_stop_restart's bot, which acts on a candle up to ten minutes old: a live bot
    started again just before its entry's candle closes reconciles first, and on the fast clock
    here that candle is already two minutes old when it reads it (the entry is not what is tested)."""
    return bot(f"{mode}-trail", mode, base_url, on_restart="resume", strategy={"name": "test_buys_on_one_candle"},
               risk={"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT}, exchange_extra={"max_candle_age_secs": 600})


async def crash_with_the_entry_past_the_snapshot(tmp_path, standin, config, *, snapshot: str) -> None:
    """Run the bot through its entry and the rise to the top, then crash it with its snapshot on
    disk from before the entry (`snapshot="older"`: a clean stop's, the bot flat) or none at all
    (`"none"`: it died before its first was written), as when the process dies between the
    entry's journal commit and the snapshot's write."""
    store = SnapshotStore(tmp_path / "bots")
    if snapshot == "older":
        await run_until(tmp_path, standin, config, hold_at_ms=BEFORE_THE_ENTRY_MS)
        older = store.path(config.id).read_bytes()
    await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (FALL - 5) * MIN, then_crash=True)
    assert [f["side"] for f in journalled(tmp_path, config.id, "fill")] == ["buy"]
    if snapshot == "older":
        store.path(config.id).write_bytes(older)
        assert store.read(config.id)["open_orders"] == []
    else:
        store.path(config.id).unlink()


@pytest.mark.parametrize("snapshot", ["older", "none"])
@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_a_trailing_stop_of_an_entry_past_the_snapshot_comes_back_at_the_high_since_its_fill(
        tmp_path, mode, snapshot):
    expected = await uninterrupted_exit(tmp_path / "alone", mode)
    async with new_standin() as standin:
        config = config_for(mode, standin.base_url)
        await crash_with_the_entry_past_the_snapshot(tmp_path, standin, config, snapshot=snapshot)

        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)
        assert trailing_level(tmp_path, config.id) == pytest.approx(LEVEL, rel=1e-12)

        await run_until(tmp_path, standin, config, condition=exited)
        assert exit_fills(tmp_path, config.id) == expected
        if mode == "live":
            assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]


@pytest.mark.parametrize("snapshot", ["older", "none"])
@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_a_stop_of_an_entry_past_the_snapshot_reached_while_the_daemon_was_down_exits_once(
        tmp_path, mode, snapshot):
    async with new_standin() as standin:
        config = config_for(mode, standin.base_url)
        await crash_with_the_entry_past_the_snapshot(tmp_path, standin, config, snapshot=snapshot)
        standin.advance(REACHING_MS + 5 * MIN - standin.now_ms)      # down until the fall is past the stop
        state = SnapshotStore(tmp_path / "bots").read(config.id)
        candles_read = state["bars"] if state else 0

        await run_until(tmp_path, standin, config, condition=exited)
        manager = await run_until(tmp_path, standin, config,       # and once more: nothing is sold again
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(REACHING_MS + 10 * MIN))

        [(order_id, price, fill_ts_ms)] = exit_fills(tmp_path, config.id)
        assert order_id.endswith("-ts")
        if mode == "paper":         # filled at the candle that reached it, at the level trailed since the fill
            assert (price, fill_ts_ms) == (pytest.approx(LEVEL, rel=1e-12), REACHING_MS)
        else:                       # sent once, as the bot starts: not when the price falls to the entry's level
            assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]
            [exit_fill] = [e for e in journalled_events(tmp_path, config.id, "fill") if e.data["order_id"] == order_id]
            assert exit_fill.bar == candles_read - 1
        assert manager.status(config.id).position < 0.00001          # dust under one lot step
        assert manager.status(config.id).fills == 2


def journalled_events(tmp_path, bot_id: str, kind: str):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        return journal.for_bot(bot_id).events(kinds=(kind,))
    finally:
        journal.close()


async def test_a_sim_bot_with_its_entry_past_the_snapshot_re_runs_it_and_exits_as_without_the_crash(tmp_path):
    path = tmp_path / "tape.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{iso_utc(ts)},{o!r},{h!r},{low!r},{c!r},{v!r}\n" for ts, o, h, low, c, v in TAPE))
    fields = {"id": "sim-trail", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 5_000,
              "market": {"source": "csv", "path": str(path)}, "strategy": {"name": "test_buys_on_one_candle"},
              "risk": {"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT}}
    alone = sim_runner(BotConfig.model_validate(fields), load_candles(path).candles)
    await alone.run()

    services = sim_services(tmp_path)
    manager = BotManager([BotConfig.model_validate({**fields, "speed": 1_500})], services, exit_when_done=False,
                         snapshot_interval_secs=3_600)
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: manager.status("sim-trail").bars >= TOP + 5, timeout_secs=30, poll_secs=0.005)
    await crash(manager, services)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert manager.status("sim-trail").fills == 1                      # crashed after the entry, before the exit
    SnapshotStore(tmp_path / "bots").path("sim-trail").unlink()        # as if it died before the entry's snapshot

    services = sim_services(tmp_path)
    await asyncio.wait_for(BotManager([BotConfig.model_validate(fields)], services).run(asyncio.Event()), 30)
    services.close()

    state = SnapshotStore(tmp_path / "bots").read("sim-trail")
    assert state["bars"] == len(TAPE) and state["portfolio"] == alone.snapshot()["portfolio"]
    [(order_id, price, _)] = exit_fills(tmp_path, "sim-trail")
    assert order_id.endswith("-ts") and price == pytest.approx(LEVEL, rel=1e-12)


async def test_a_live_bot_that_halts_on_a_difference_starts_with_its_entry_past_the_snapshot(tmp_path):
    # The entry's fill is journalled and the exchange holds the same trade: nothing differs. It
    # used to be followed again as an order of unknown outcome, which the exchange no longer
    # lists open, and `on_restart: halt` refused to start over that "difference".
    async with new_standin() as standin:
        config = config_for("live", standin.base_url).model_copy(update={"on_restart": "halt"})
        await crash_with_the_entry_past_the_snapshot(tmp_path, standin, config, snapshot="none")

        manager = await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)

        assert manager.status(config.id).state == "stopped" and manager.status(config.id).last_error == ""
        assert trailing_level(tmp_path, config.id) == pytest.approx(LEVEL, rel=1e-12)
