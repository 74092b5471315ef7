"""A live daemon as a real process, SIGKILLed and restarted, against the Binance stand-in.

The stand-in runs in this test's event loop in real time (its clock follows the wall clock)
and replays one-second candles, so `botrunner run --live` on its own system clock trades on it
every few seconds. The daemon is killed with SIGKILL twice: once with an order whose answer was
lost (the exchange has it; the daemon's lookup is held back until the kill), once at a random
moment. After each restart it reconciles; at the end the bot's position, fills and orders are
the exchange's, and no client order id reached the exchange twice.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from execution.order_ids import order_id_prefix
from execution.standin import BinanceStandIn
from execution.standin.ledger import base_moved
from tests.daemon_process import start_daemon as start_daemon_process, write_config_folder
from tests.exchange_bot_files import exchange_bot_file
from tests.wall_clock_standin import wall_clock_standin

BOT_ID = "btc-live"
PREFIX = order_id_prefix(BOT_ID)
KILL_SEED = 20261201            # the second kill lands a seeded random time after the orders it waits for



def write_config(root: Path, base_url: str) -> Path:
    return write_config_folder(root / "config", "snapshot_interval_secs: 0.2\nstop_grace_secs: 5\n", {
        BOT_ID: exchange_bot_file(BOT_ID, "live", base_url, on_restart="resume", exchange_extra={
            "api_key_env": "BR_PROC_KEY", "secret_env": "BR_PROC_SECRET", "stale_after_bars": 30})})


def start_daemon(config_dir: Path, state_dir: Path, standin: BinanceStandIn, log: Path) -> subprocess.Popen:
    return start_daemon_process(config_dir, state_dir, live=True, log=log, env={
        "I_UNDERSTAND_LIVE_TRADING": "true", "BR_PROC_KEY": standin.api_key, "BR_PROC_SECRET": standin.secret})


async def until(condition, what: str, log: Path, timeout: float = 45.0) -> None:
    """Poll without blocking the loop: the stand-in answers the daemon from this loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; daemon log:\n{log.read_text()[-4000:]}")
        await asyncio.sleep(0.02)


def bot_orders(standin: BinanceStandIn) -> list:
    return [o for o in standin.orders if o.client_order_id.startswith(PREFIX)]


def bot_trades(standin: BinanceStandIn) -> list:
    ours = {o.order_id for o in bot_orders(standin)}
    return [t for t in standin.trades if t.order_id in ours]


async def wait_exit(daemon: subprocess.Popen, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while daemon.poll() is None:
        if time.monotonic() > deadline:
            daemon.kill()
            raise AssertionError("the daemon did not exit after SIGTERM")
        await asyncio.sleep(0.05)
    return daemon.returncode


def kill(daemon: subprocess.Popen) -> None:
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(timeout=10)


async def test_live_daemon_killed_twice_comes_back_with_the_exchanges_position_and_no_order_sent_twice(tmp_path):
    log = tmp_path / "daemon.log"
    async with wall_clock_standin(600) as standin:                      # ten minutes of 1s candles
        config_dir, state_dir = write_config(tmp_path, standin.base_url), tmp_path / "state"

        # 1. Trade, then lose the answer to an order and die before learning its outcome.
        daemon = start_daemon(config_dir, state_dir, standin, log)
        try:
            await until(lambda: len(bot_trades(standin)) >= 2, "first fills", log)
            standin.lose_response_next("POST /api/v3/order")
            lookup = standin.delay_next("GET /api/v3/order", 60)     # held until the kill
            before = len(bot_orders(standin))
            await until(lambda: len(bot_orders(standin)) > before and lookup not in standin.pending_faults,
                        "an order placed, its answer lost, its lookup under way", log)
        finally:
            kill(daemon)
        lost = bot_orders(standin)[-1].client_order_id

        # 2. Restart: the lost order is looked up, not resent; trade on, then die at a random moment.
        daemon = start_daemon(config_dir, state_dir, standin, log)
        try:
            count = len(bot_orders(standin))
            await until(lambda: len(bot_orders(standin)) >= count + 2, "orders after the first restart", log)
            await asyncio.sleep(random.Random(KILL_SEED).uniform(0.0, 1.5))
        finally:
            kill(daemon)

        # 3. Restart again, trade on, then stop cleanly.
        log_offset = log.stat().st_size
        daemon = start_daemon(config_dir, state_dir, standin, log)
        count = len(bot_orders(standin))
        try:
            await until(lambda: len(bot_orders(standin)) >= count + 2, "orders after the second restart", log)
        finally:
            daemon.send_signal(signal.SIGTERM)
        assert await wait_exit(daemon) == 0, log.read_text()[-4000:]
        last_run = log.read_text()[log_offset:]
        # A clean stop: the shared feeds close before the exchange client they read from.
        print("LASTRUN", last_run[-3000:])
        assert "ERROR" not in last_run and "Traceback" not in last_run, last_run[-4000:]

        trades = bot_trades(standin)
        submissions = dict(standin.order_submissions)
        exchange_ids = [o.client_order_id for o in bot_orders(standin)]
        held = float(standin.balances["BTC"].free + standin.balances["BTC"].locked)

    state = json.loads((state_dir / "bots" / f"{BOT_ID}.json").read_text())["state"]
    assert abs(state["portfolio"]["quantity"] - base_moved(trades)) < 1e-9       # fees in BTC taken off
    assert abs(state["portfolio"]["quantity"] - held) < 1e-9        # the only bot on the account
    assert max(submissions.values()) == 1                           # no client order id sent twice

    journal = sqlite3.connect(state_dir / "journal.sqlite3")
    try:
        fill_keys = [k for (k,) in journal.execute("SELECT key FROM events WHERE bot_id = ? AND kind = 'fill'",
                                                   (BOT_ID,))]
        orders_with_fills = {json.loads(d)["order_id"] for (d,) in journal.execute(
            "SELECT data FROM events WHERE bot_id = ? AND kind = 'fill'", (BOT_ID,))}
        decisions = [json.loads(d) for (d,) in journal.execute(
            "SELECT data FROM events WHERE bot_id = ? AND kind = 'order'", (BOT_ID,))]
    finally:
        journal.close()
    # The exchange's orders are the journalled decisions, and no decision was made twice: a
    # decision re-sent under a new id after a restart would be a second intent for its candle.
    assert sorted(exchange_ids) == sorted(d["order_id"] for d in decisions)
    decided_on = [(d["created_ts_ms"], d["side"]) for d in decisions]
    assert len(set(decided_on)) == len(decided_on), decided_on
    assert sorted(fill_keys) == sorted(str(t.id) for t in trades)   # every fill once, none lost
    assert lost in orders_with_fills                                      # the lost order was found, booked
