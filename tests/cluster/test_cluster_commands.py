"""The cluster's control commands where there is no cluster, and how status shows a lease.

A daemon alone answers `resume --all`, `move` and `/cluster` with a 409 that says they need
cluster mode (over its real socket); the CLI refuses `resume` with neither a bot nor --all;
`botrunner status` gets a NODE column (node, fencing token, seconds left) once bots have leases.
"""

from __future__ import annotations


import pytest

from runner.control.client import ControlClient, ControlRequestFailed
from runner.control.server import serve_control
from runner.control.status_table import format_status_table
from tests.daemon_process import botrunner
from tests.fakes import FakeManager, make_status


async def test_a_daemon_alone_refuses_the_cluster_commands_saying_they_need_cluster_mode(sock_dir):
    manager = FakeManager([make_status("btc-ema", "running")])
    async with await serve_control(manager, socket_path=sock_dir / "botrunner.sock"):
        async with ControlClient(sock_dir / "botrunner.sock") as client:
            for call in (client.resume_all(), client.move("btc-ema", "node-b"), client.cluster()):
                with pytest.raises(ControlRequestFailed) as refused:
                    await call
                assert refused.value.status == 409 and "needs cluster mode" in refused.value.message


def test_resume_needs_a_bot_or_all_but_not_both(tmp_path):
    neither = botrunner("resume", "--state-dir", str(tmp_path), timeout=60)
    both = botrunner("resume", "btc-ema", "--all", "--state-dir", str(tmp_path), timeout=60)
    assert neither.returncode == 2 and "resume: give a BOT id, or --all" in neither.stderr
    assert both.returncode == 2 and "not both" in both.stderr


def test_status_shows_each_bots_node_token_and_lease_time_left():
    table = format_status_table([
        make_status("btc-ema", "running", cluster={"node": "node-a", "token": 7, "expires_in_secs": 1.94}),
        make_status("eth-rsi", "unowned"),
    ])
    header, btc, eth = table.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "NODE"]
    assert "node-a #7 1.9s" in btc and eth.split()[2] == "-"
