"""`botrunner run` whose control port or socket another daemon holds: refused before any bot is
built, in one line naming the address and what to do; its state folder gets no journal, no
snapshot, and the daemon holding them keeps serving. Real processes, real sockets."""

from __future__ import annotations

import os
import socket
import time

import pytest

from tests.daemon_process import botrunner, start_daemon, stop_daemon, write_config_folder
from tests.imported_modules import refused_command_modules
from tests.integration.test_daemon_startup_errors import BOT as SIM_BOT

TOKEN = "a-token-of-16-chars-or-more"
THE_DAEMON_STACK = {"aiohttp", "runner.daemon.process", "runner.daemon.manager", "runner.assembly"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nothing_of_the_bots_in(state) -> bool:
    return not (state / "journal.sqlite3").exists() and not (state / "bots").exists()


def test_a_port_or_socket_another_daemon_holds_is_refused_before_the_bots_are_built(tmp_path, monkeypatch):
    port, first_socket = free_port(), tmp_path / "first.sock"
    monkeypatch.setenv("BOTRUNNER_TOKEN", TOKEN)              # the children inherit it
    bot = {"b": SIM_BOT.format(bars=100_000, speed=5)}
    first_config = write_config_folder(tmp_path / "first", f"control: {{socket: {first_socket}, tcp: {{port: {port}}}}}\n", bot)
    first = start_daemon(first_config, tmp_path / "first-state")
    try:
        deadline = time.monotonic() + 120
        while not first_socket.exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first daemon did not start"
            time.sleep(0.02)

        same_port = write_config_folder(tmp_path / "same-port", f"control: {{tcp: {{port: {port}}}}}\n", bot)
        errors, modules = refused_command_modules("run", str(same_port), "--state-dir", str(tmp_path / "second"))
        same_socket = write_config_folder(tmp_path / "same-socket", f"control: {{socket: {first_socket}}}\n", bot)
        refused = botrunner("run", str(same_socket), "--state-dir", str(tmp_path / "third"), timeout=120)

        assert errors.strip().splitlines()[-1] == (
            f"{same_port}/daemon.yaml: control.tcp: cannot listen on 127.0.0.1:{port}: Address already in use: "
            "another process listens there (another botrunner daemon?); stop it, or set another control.tcp.port "
            "in daemon.yaml")
        assert not modules & THE_DAEMON_STACK, sorted(modules & THE_DAEMON_STACK)
        assert nothing_of_the_bots_in(tmp_path / "second")
        assert refused.returncode == 1, refused.stderr[-2000:]
        assert refused.stderr.strip().splitlines()[-1] == (
            f"another botrunner daemon is already listening on {first_socket}; stop it first, or give this one "
            "another state folder (--state-dir) or control.socket")
        assert nothing_of_the_bots_in(tmp_path / "third")
        assert first.poll() is None and first_socket.exists()
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass                                              # and its port still answers
    finally:
        stop_daemon(first)
    assert not os.path.exists(first_socket)                  # the first daemon removed its own file only


async def test_run_daemon_from_python_refuses_a_port_in_use_before_the_bots_are_built(tmp_path, monkeypatch):
    # `botrunner run` checks first (above); run_daemon, called from a program of one's own, did not:
    # it opened the journal and built every bot, then the control server found the port taken.
    from runner.control.endpoints import ControlEndpointUnusable
    from runner.daemon.plan import plan_daemon
    from runner.daemon.process import run_daemon
    from runner.state.state_dir import StateDirLock

    monkeypatch.setenv("BOTRUNNER_TOKEN", TOKEN)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = write_config_folder(tmp_path / "cfg", f"control: {{tcp: {{port: {port}}}}}\n",
                                     {"b": SIM_BOT.format(bars=1000, speed="null")})
        plan = plan_daemon(config, tmp_path / "state")
        with pytest.raises(ControlEndpointUnusable) as refused:
            await run_daemon(plan)

    assert str(refused.value) == (
        f"control.tcp: cannot listen on 127.0.0.1:{port}: Address already in use: another process listens there "
        "(another botrunner daemon?); stop it, or set another control.tcp.port in daemon.yaml")
    assert nothing_of_the_bots_in(tmp_path / "state")
    StateDirLock.acquire(tmp_path / "state").release()          # and the state folder is free again


async def test_run_daemon_from_python_refuses_a_socket_another_daemon_answers_on(tmp_path):
    from runner.control.endpoints import ControlSocketInUse
    from runner.daemon.plan import plan_daemon
    from runner.daemon.process import run_daemon

    path = tmp_path / "other.sock"
    with socket.socket(socket.AF_UNIX) as other:
        other.bind(str(path))
        other.listen()
        config = write_config_folder(tmp_path / "cfg", f"control: {{socket: {path}}}\n",
                                     {"b": SIM_BOT.format(bars=1000, speed="null")})
        with pytest.raises(ControlSocketInUse) as refused:
            await run_daemon(plan_daemon(config, tmp_path / "state"))

    assert str(refused.value) == (f"another botrunner daemon is already listening on {path}; stop it first, or give "
                                  "this one another state folder (--state-dir) or control.socket")
    assert nothing_of_the_bots_in(tmp_path / "state")
