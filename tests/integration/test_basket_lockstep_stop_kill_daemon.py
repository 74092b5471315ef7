"""A sim basket leg stopped, or its basket killed, while the leg waits for the others in lockstep
(`runner.basket.lockstep`), in a real daemon process operated over its control socket.

SOL/USDT's candle file has a gap of 10 days after its 400th candle: at 1,000 candles a second its
paced replay holds its next candle back for 14.4 s, and the lockstep holds the BTC and ETH legs
behind it (SOL's next candle could be earlier than theirs), with their own candles waiting. Then:

- `botrunner stop trio.eth-usdt`: the ETH leg ends at once, stopped, not when SOL's next candle
  comes (nor cancelled after `stop_grace_secs`); its last snapshot holds the candles its journal
  has, its journal ends with its stop; BTC and SOL run on (a stopped leg holds nobody).
- `botrunner kill trio`: the answer comes once every leg is latched with the basket's reason, not
  after every flatten: the waiting BTC leg is killed at once (journalled before the candle it
  waited to step) and closes its position on that candle without waiting for the clock (a killed
  basket decides nothing more); SOL owes its flatten to its next candle (`flatten_pending`); the
  stopped ETH leg is built again from its snapshot and killed there. Once SOL's replay goes on,
  every leg is flat.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from market.synthetic import generate_candles
from runner.control.client import ControlClient
from tests.daemon_process import connected, start_daemon, stop_daemon, write_config_folder
from tests.trio_basket import LEGS

BTC, ETH, SOL = LEGS
BEFORE_GAP = 400                      # SOL's candles before its gap
GAP_MS = 10 * 86_400_000              # 14.4 s of replay at speed 60,000
REASON = "by hand: stand down"


def sol_file(folder: Path) -> Path:
    """SOL/USDT's 1m candles: 400, a gap of 10 days, 400 more."""
    candles = generate_candles(count=2 * BEFORE_GAP, seed=11)
    lines = ["timestamp,open,high,low,close,volume"]
    for i, c in enumerate(candles):
        ts_ms = c.ts_ms + (GAP_MS if i >= BEFORE_GAP else 0)
        lines.append(f"{ts_ms},{c.open},{c.high},{c.low},{c.close},{c.volume}")
    path = folder / "sol-usdt-1m.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def basket_yaml(sol: Path) -> str:
    return f"""\
id: trio
symbols: [BTC/USDT, ETH/USDT, SOL/USDT]
max_open_positions: 3
stake_amount: 1500
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 5, bars: 1500}}
markets:
  SOL/USDT: {{source: csv, path: {sol}}}
strategy: {{name: ema_cross, params: {{fast: 5, slow: 20}}}}
risk: {{stop_loss_pct: 0.01}}
speed: 60000
"""


def snapshot(state_dir: Path, leg: str) -> dict:
    path = state_dir / "bots" / f"{leg}.json"
    return json.loads(path.read_text())["state"] if path.exists() else {}


async def saved(state_dir: Path, leg: str, condition) -> dict:
    """The leg's snapshot once it is on disk and `condition(state)` holds (the daemon's writer
    puts it there after the journal's commit, a moment after the answer)."""
    async with asyncio.timeout(30):
        while not (state := snapshot(state_dir, leg)) or not condition(state):
            await asyncio.sleep(0.02)
    return state


def journalled(state_dir: Path, leg: str) -> list[tuple[str, int, dict]]:
    with sqlite3.connect(f"file:{state_dir / 'journal.sqlite3'}?mode=ro", uri=True, timeout=5) as db:
        rows = db.execute("SELECT kind, bar, data FROM events WHERE bot_id = ? ORDER BY seq", (leg,)).fetchall()
    return [(kind, bar, json.loads(data)) for kind, bar, data in rows]


async def statuses(client: ControlClient) -> dict:
    return {status.id: status for status in await client.bots()}


async def until(client: ControlClient, condition, timeout_secs: float = 120.0) -> dict:
    """The legs' statuses once `condition(statuses)` holds (the bound counts a daemon's start:
    20 s of imports alone on a loaded machine)."""
    async with asyncio.timeout(timeout_secs):
        while not condition(found := await statuses(client)):
            await asyncio.sleep(0.02)
    return found


def waiting_at_the_gap(found: dict) -> bool:
    """SOL has stepped its candles before the gap; BTC and ETH stepped as far, and no further."""
    sol = found[SOL]
    return sol.state == "running" and sol.bars == BEFORE_GAP and all(
        found[leg].state == "running" and found[leg].bars == BEFORE_GAP for leg in (BTC, ETH))


@pytest.fixture
def daemon(sock_dir):
    config_dir, state_dir = sock_dir / "config", sock_dir / "state"      # short: the socket is in state_dir
    sol_path = sol_file(sock_dir)
    # A grace longer than the client's 10 s: a stop or kill that waited for SOL's next candle
    # would not answer in time, rather than answer at the end of the grace (10 s by default).
    write_config_folder(config_dir, "stop_grace_secs: 30\nsnapshot_interval_secs: 0.1\n",
                        {"trio": basket_yaml(sol_path)})
    process = start_daemon(config_dir, state_dir)
    yield state_dir, process
    stop_daemon(process)


async def test_a_leg_stopped_or_its_basket_killed_while_it_waits_in_lockstep_ends_at_once(daemon):
    state_dir, process = daemon
    client = await connected(state_dir / "botrunner.sock")
    try:
        await until(client, waiting_at_the_gap)

        stopped = await client.stop(ETH)

        found = await statuses(client)
        assert (stopped.state, stopped.bars, found[ETH].state) == ("stopped", BEFORE_GAP, "stopped")
        assert found[SOL].bars == BEFORE_GAP      # it ended before SOL's next candle, not at it
        assert (found[BTC].state, found[SOL].state) == ("running", "running")
        eth = journalled(state_dir, ETH)
        lifecycle = [data["state"] for kind, _, data in eth if kind == "lifecycle"]
        assert lifecycle[-1] == "stopped", lifecycle         # its own stop, not a cancellation after the grace
        last = await saved(state_dir, ETH, lambda state: state["bars"] == BEFORE_GAP)
        assert last["state"] == "stopped"
        assert last["counters"]["fills"] == sum(kind == "fill" for kind, _, _ in eth) == stopped.fills
        # The seeded candles leave BTC and SOL long at the gap: positions to close once killed.
        assert found[BTC].position > 0 and found[SOL].position > 0 and found[ETH].position == 0

        # Before: the kill's answer waited for the legs' flattens, SOL's (and with the clock, BTC's)
        # held back with their next candle for 14 s, and the client gave up after 10 s ("did not
        # answer"), the basket killed all the same.
        killed = await client.kill("trio", REASON)

        assert killed.kill_switch and killed.kill_reason == REASON
        found = await statuses(client)
        assert all(found[leg].state == "killed" and found[leg].kill_reason == REASON for leg in LEGS), found
        assert found[SOL].bars == BEFORE_GAP and found[SOL].flatten_pending    # its next candle 14 s away
        # BTC, killed while it waited for the clock, closed its position at its own next candle
        # at once: the basket is killed, and no leg decides on the others' moment any more.
        assert (found[BTC].bars, found[BTC].position, found[BTC].flatten_pending) == (BEFORE_GAP + 1, 0, False)
        btc_kills = [data for kind, _, data in journalled(state_dir, BTC) if kind == "kill"]
        assert [(kill["bars"], kill["reason"]) for kill in btc_kills] == [(BEFORE_GAP, REASON)]  # before the candle it waited for

        # SOL's replay goes on after its gap: each leg closes what it holds at its next candle.
        found = await until(client, lambda f: all(not f[leg].flatten_pending and f[leg].position == 0
                                                  for leg in LEGS))
        assert all(found[leg].state == "killed" for leg in LEGS)
        assert found[BTC].bars == BEFORE_GAP + 1 and found[ETH].bars == BEFORE_GAP   # ETH was flat: killed as it was
        assert found[SOL].bars == BEFORE_GAP + 1
        for leg in LEGS:
            await saved(state_dir, leg, lambda state: state["kill_switch"]["tripped"] and state["state"] == "killed"
                        and state["portfolio"]["quantity"] == 0)
    finally:
        await client.aclose()
    assert process.poll() is None        # the daemon runs on, with its basket killed
