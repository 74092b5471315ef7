"""The control commands as a user runs them: a real `botrunner` process talking to a control API
served in this test's event loop (FakeManager behind it), checked by exit code and output."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from runner.control.server import serve_control
from runner.control.status import ReloadResult
from tests.fakes import FakeManager, make_status

PROJECT = Path(__file__).resolve().parents[2]
NO_DAEMON = "no botrunner daemon is running (no control socket at {}); start one with: botrunner run"


async def botrunner(*args: str, cwd: Path = PROJECT, token: str | None = None) -> tuple[int, str, str]:
    """Run main.py without blocking the loop that serves its requests."""
    env = {k: v for k, v in os.environ.items() if k != "BOTRUNNER_TOKEN"}
    if token is not None:
        env["BOTRUNNER_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROJECT / "main.py"), *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def state_dir(sock_dir):
    """Short on purpose (tests/conftest.py): the socket path inside must fit AF_UNIX's 107 bytes."""
    return sock_dir


@pytest.fixture
def manager():
    return FakeManager([
        make_status("eth-rsi", "stopped", mode="sim", symbol="ETH/USDT", last_error="ZeroDivisionError in rsi"),
        make_status("btc-ema", "running", equity=1050.5, pnl=50.5, position=0.012,
                    last_candle_time="2024-03-01T12:34:00+00:00"),
        make_status("sol-macd", "killed", kill_switch=True, kill_reason="drawdown limit"),
    ])


@pytest.fixture
async def daemon(manager, state_dir):
    async with await serve_control(manager, socket_path=state_dir / "botrunner.sock") as server:
        yield server


async def test_status_prints_an_aligned_table(daemon, state_dir):
    code, out, err = await botrunner("status", "--state-dir", str(state_dir))

    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "STATE", "MODE", "SYMBOL", "POSITION", "EQUITY", "PNL", "LAST", "CANDLE", "NOTE"]
    assert [row.split()[:2] for row in rows] == [["btc-ema", "running"], ["eth-rsi", "stopped"],
                                                ["sol-macd", "killed"]]
    assert all(row.index(row.split()[1]) == header.index("STATE") for row in rows)
    btc = rows[0]
    assert btc.split()[4:9] == ["0.012", "1,050.50", "+50.50", "2024-03-01", "12:34"]
    assert rows[1].endswith("error: ZeroDivisionError in rsi")
    assert rows[2].endswith("reason: drawdown limit")
    assert rows[2].index("reason:") == header.index("NOTE")


async def test_status_json_of_one_bot_is_the_apis_status(daemon, state_dir, manager):
    code, out, err = await botrunner("status", "btc-ema", "--json", "--state-dir", str(state_dir))

    assert code == 0, err
    assert json.loads(out) == manager.status("btc-ema").model_dump(mode="json")


async def test_status_of_an_unknown_bot_exits_1_with_the_message(daemon, state_dir):
    code, out, err = await botrunner("status", "doge-yolo", "--state-dir", str(state_dir))

    assert (code, out) == (1, "")
    assert err.strip() == "no bot has the id 'doge-yolo'; known: btc-ema, eth-rsi, sol-macd"


async def test_start_then_stop_a_bot(daemon, state_dir, manager):
    assert await botrunner("start", "eth-rsi", "--state-dir", str(state_dir)) == (
        0, "eth-rsi: running (error: ZeroDivisionError in rsi)\n", "")
    code, out, err = await botrunner("stop", "eth-rsi", "--state-dir", str(state_dir))
    assert code == 0 and out.startswith("eth-rsi: stopped"), err
    assert manager.calls == [("start", "eth-rsi"), ("stop", "eth-rsi")]


async def test_starting_a_running_bot_exits_1_with_the_reason(daemon, state_dir):
    code, _, err = await botrunner("start", "btc-ema", "--state-dir", str(state_dir))

    assert (code, err.strip()) == (1, "bot btc-ema is already running")


async def test_kill_one_bot_with_a_reason(daemon, state_dir, manager):
    code, out, err = await botrunner("kill", "btc-ema", "--reason", "exchange outage", "--state-dir", str(state_dir))

    assert (code, out) == (0, "btc-ema: killed (reason: exchange outage)\n"), err
    assert manager.status("btc-ema").kill_reason == "exchange outage"


async def test_kill_all_bots(daemon, state_dir, manager):
    code, out, err = await botrunner("kill", "--all", "--reason", "maintenance", "--state-dir", str(state_dir))

    assert code == 0, err
    assert out.splitlines() == ["btc-ema: killed (reason: maintenance)", "eth-rsi: killed (reason: maintenance)",
                                "sol-macd: killed (reason: maintenance)"]
    assert manager.calls == [("kill_all", "maintenance")]


@pytest.mark.parametrize("args", [("--reason", "x"), ("btc-ema", "--all", "--reason", "x"), ("btc-ema",),
                                  ("btc-ema", "--reason", " ")])
async def test_kill_needs_one_target_and_a_reason(daemon, state_dir, manager, args):
    code, _, err = await botrunner("kill", *args, "--state-dir", str(state_dir))

    assert code == 2 and err
    assert manager.status("btc-ema").state == "running"


async def test_resume_a_killed_bot_and_not_a_running_one(daemon, state_dir):
    assert await botrunner("resume", "sol-macd", "--state-dir", str(state_dir)) == (0, "sol-macd: running\n", "")
    code, _, err = await botrunner("resume", "btc-ema", "--state-dir", str(state_dir))
    assert (code, err.strip()) == (1, "bot btc-ema is not killed (it is running); nothing to resume")


async def test_reload_prints_what_changed(daemon, state_dir, manager):
    manager.reload_result = ReloadResult(added=["ada-bb", "xrp-ema"], restarted=["btc-ema"], unchanged=["sol-macd"])

    code, out, err = await botrunner("reload", "--state-dir", str(state_dir))

    assert code == 0, err
    assert out.splitlines() == ["added:     ada-bb, xrp-ema", "removed:   -", "restarted: btc-ema",
                                "unchanged: sol-macd"]


async def test_reload_of_a_bad_config_folder_prints_the_problems_and_exits_2(daemon, state_dir, manager):
    manager.reload_problems = ["configs/a.yaml: timeframe: must be one of 1m, 5m", "configs/b.yaml: unknown key 'x'"]

    code, out, err = await botrunner("reload", "--state-dir", str(state_dir))

    assert (code, out) == (2, "")
    assert err.splitlines() == ["the config folder has 2 problem(s); nothing was changed", *manager.reload_problems]


async def test_status_over_tcp_uses_the_token_from_the_environment(manager):
    async with await serve_control(manager, socket_path=None, tcp=("127.0.0.1", 0), token="s3cret") as server:
        code, out, err = await botrunner("status", "--url", server.url, "--json", token="s3cret")
        assert code == 0, err
        assert [bot["id"] for bot in json.loads(out)] == ["btc-ema", "eth-rsi", "sol-macd"]

        code, _, err = await botrunner("kill", "btc-ema", "--reason", "x", "--url", server.url)
        assert code == 1 and "token" in err
        assert "BOTRUNNER_TOKEN is not set here: set it to the daemon's token to act over --url" in err
        code, _, err = await botrunner("kill", "btc-ema", "--reason", "x", "--url", server.url, token="wrong")
        assert code == 1 and "BOTRUNNER_TOKEN here is not the daemon's token" in err
        assert manager.calls == []


async def test_status_without_a_daemon_exits_1_with_a_plain_message(state_dir):
    code, out, err = await botrunner("status", cwd=state_dir)     # default --state-dir ./state

    assert (code, out) == (1, "")
    assert err == NO_DAEMON.format("state/botrunner.sock") + "\n"


async def test_a_stale_socket_left_by_a_crashed_daemon_means_no_daemon(state_dir):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as crashed:    # bound, then gone
        crashed.bind(str(state_dir / "botrunner.sock"))

    code, _, err = await botrunner("stop", "btc-ema", "--state-dir", str(state_dir))

    assert (code, err) == (1, NO_DAEMON.format(state_dir / "botrunner.sock") + "\n")
