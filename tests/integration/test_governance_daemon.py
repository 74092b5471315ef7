"""Governance in a real daemon process: promote and governance over its real control socket and
by the CLI, a promotion refused with the rule's reason, and a level that survives a restart."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from runner.control.client import ControlClient, ControlRequestFailed
from tests.daemon_process import botrunner, connected, start_daemon, stop_daemon, write_config_folder


BOT = """\
id: {id}
symbol: BTC/USD
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 4, bars: 50000, start_price: 25000}}
strategy: {{name: sma_cross, params: {{fast: 5, slow: 20}}}}
risk: {{stake_pct: 0.9}}
speed: 6000
governance:
  enabled: true
  start_level: 2
  promotion: {{min_trades: {min_trades}, min_win_rate: 0.0, max_drawdown_pct: 1.0}}
  demote_drawdown_pct: 1.0
"""


@pytest.fixture
def folders(sock_dir):
    config_dir, state_dir = sock_dir / "config", sock_dir / "state"      # short: the socket is in state_dir
    write_config_folder(config_dir, "stop_grace_secs: 5\nsnapshot_interval_secs: 0.2\n", {
        "earned": BOT.format(id="earned", min_trades=2), "novice": BOT.format(id="novice", min_trades=1_000_000)})
    processes: list[subprocess.Popen] = []
    yield config_dir, state_dir, processes
    for process in processes:
        stop_daemon(process)


async def governed(client: ControlClient, bot_id: str, condition):
    async with asyncio.timeout(20):
        while not condition(status := (await client.governance(bot_id))[0]):
            await asyncio.sleep(0.05)
    return status


async def test_promote_by_hand_over_the_socket_and_the_level_survives_a_restart(folders):
    config_dir, state_dir, processes = folders
    processes.append(start_daemon(config_dir, state_dir))
    client = await connected(state_dir / "botrunner.sock")
    try:
        earned = await governed(client, "earned", lambda s: s.level == 2 and s.figures["promotion_shortfall"] is None)
        assert earned.level_name == "L2 gated" and earned.execution == "sim"
        assert earned.size_multiplier == pytest.approx(0.1 * max(0.1, earned.health))    # safe-mode size x health
        with pytest.raises(ControlRequestFailed) as refused:
            await client.promote("novice")
        assert refused.value.status == 409
        assert "promotion rule does not hold yet" in refused.value.message and "of 1000000 closed trades" in refused.value.message

        promoted = await client.promote("earned")
        assert (promoted.level, promoted.level_name) == (3, "L3 constrained")
        assert promoted.decisions[-1].action == "promote" and promoted.decisions[-1].by == "person"

        shown = botrunner("governance", "earned", "--json", "--state-dir", str(state_dir))
        assert shown.returncode == 0, shown.stderr
        [status] = json.loads(shown.stdout)
        assert status["level"] == 3 and any(d["action"] == "promote" for d in status["decisions"])
        text = botrunner("governance", "--state-dir", str(state_dir))
        assert "earned  L3 constrained" in text.stdout and "novice  L2 gated" in text.stdout
        by_cli = botrunner("promote", "novice", "--state-dir", str(state_dir))
        assert by_cli.returncode == 1 and "promotion rule does not hold yet" in by_cli.stderr
    finally:
        await client.aclose()

    stop_daemon(processes.pop())
    offline = botrunner("governance", "earned", "--json", "--state-dir", str(state_dir))   # no daemon: the state folder
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)[0]["level"] == 3

    processes.append(start_daemon(config_dir, state_dir))
    client = await connected(state_dir / "botrunner.sock")
    try:
        again = await governed(client, "earned", lambda s: s.level is not None)
        assert (again.level, again.execution) == (3, "sim")
        assert any(d.action == "promote" and d.by == "person" for d in again.decisions)
        demoted = await client.demote("earned")
        assert demoted.level == 2
    finally:
        await client.aclose()
