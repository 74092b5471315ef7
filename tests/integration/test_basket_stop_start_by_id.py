"""`botrunner stop`, `start`, `status` and `journal` given a basket's id, as `kill` and `resume`
take one: on every leg, in a real daemon process operated with the real CLI over its socket.

Stopping every leg at once is what a basket's legs allow: a stopped leg holds nobody in the
lockstep (runner.basket.lockstep), so the legs still running would trade on alone; stopped all
together, the basket stops whole. Started again, every stopped leg is built from its snapshot
and the legs join the basket together, as at a restart of the daemon.
"""

from __future__ import annotations

import asyncio

import pytest

from runner.control.client import ControlClient
from tests.daemon_process import botrunner, connected, start_daemon, stop_daemon, write_config_folder
from tests.trio_basket import LEGS, trio_basket


@pytest.fixture
def daemon(sock_dir):
    config_dir, state_dir = sock_dir / "config", sock_dir / "state"      # short: the socket is in state_dir
    # 20,000 candles at 200 a second: the legs run on for the whole test.
    write_config_folder(config_dir, "stop_grace_secs: 10\n", {"trio": trio_basket(bars=20_000, speed=12_000)})
    process = start_daemon(config_dir, state_dir)
    yield state_dir, process
    stop_daemon(process)


async def legs_once(client: ControlClient, condition, timeout_secs: float = 120.0) -> dict:
    """The legs' statuses once `condition(statuses)` holds (a daemon's start on a loaded machine
    takes seconds of imports)."""
    async with asyncio.timeout(timeout_secs):
        while not condition(found := {s.id: s for s in await client.bots() if s.id in LEGS}):
            await asyncio.sleep(0.05)
    return found


def cli(state_dir, *args: str):
    return botrunner(*args, "--state-dir", str(state_dir), timeout=60)


async def test_stop_and_start_of_a_basket_by_its_id_act_on_every_leg(daemon):
    state_dir, process = daemon
    client = await connected(state_dir / "botrunner.sock")
    try:
        await legs_once(client, lambda f: len(f) == 3 and all(s.state == "running" and s.bars > 20 for s in f.values()))

        # Before: "no bot 'trio'; bots: trio.btc-usdt, ...", exit 1, while `kill trio` killed every leg.
        stopped = await asyncio.to_thread(cli, state_dir, "stop", "trio")

        assert (stopped.returncode, stopped.stdout) == (0, "trio: stopped\n"), stopped.stderr
        found = await legs_once(client, lambda f: True)
        assert {leg: s.state for leg, s in found.items()} == dict.fromkeys(LEGS, "stopped")
        bars = {leg: s.bars for leg, s in found.items()}
        shown = await asyncio.to_thread(cli, state_dir, "status", "trio")
        assert shown.returncode == 0 and shown.stdout.startswith("basket trio: stopped, 3 symbols"), shown
        again = await asyncio.to_thread(cli, state_dir, "stop", "trio")
        assert again.returncode == 1 and "basket trio is not running (its legs are stopped)" in again.stderr, again

        started = await asyncio.to_thread(cli, state_dir, "start", "trio")

        assert started.returncode == 0 and started.stdout.startswith("trio: "), started
        await legs_once(client, lambda f: all(s.state == "running" and s.bars > bars[leg] for leg, s in f.items()))
        twice = await asyncio.to_thread(cli, state_dir, "start", "trio")
        assert twice.returncode == 1 and "basket trio has no stopped leg to start" in twice.stderr, twice

        # Every leg's stop and start, in one journal listing named for the basket.
        journal = await asyncio.to_thread(cli, state_dir, "journal", "trio", "--kind", "lifecycle", "--limit", "500")
        assert journal.returncode == 0, journal.stderr
        lifecycle = [line.split() for line in journal.stdout.splitlines()]
        for leg in LEGS:
            states = [next(cell for cell in row if cell.startswith("state=")) for row in lifecycle if row[2] == leg]
            assert states[-2:] == ["state=stopped", "state=running"], journal.stdout
    finally:
        await client.aclose()
    assert process.poll() is None
