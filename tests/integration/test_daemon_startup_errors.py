"""`botrunner run` with a setting it cannot use: one line naming the file and setting, exit 2;
one daemon per state folder; a private state folder."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

BOT = """\
id: b
symbol: BTC/USD
capital: 1000
market: {{source: synthetic, seed: 5, bars: {bars}}}
strategy: {{name: sma_cross, params: {{fast: 5, slow: 20}}}}
speed: {speed}
"""


def config_dir(root: Path, daemon_yaml: str, *, bars: int = 100, speed: str = "null") -> Path:
    (root / "cfg" / "bots").mkdir(parents=True, exist_ok=True)
    (root / "cfg" / "daemon.yaml").write_text(daemon_yaml)
    (root / "cfg" / "bots" / "b.yaml").write_text(BOT.format(bars=bars, speed=speed))
    return root / "cfg"


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROJECT / "main.py"), "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def assert_one_clear_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "─" not in result.stderr, result.stderr[-2000:]
    assert expected in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]


@pytest.fixture
def a_file(tmp_path) -> Path:
    (tmp_path / "afile").write_text("")
    return tmp_path / "afile"       # afile/sub is unwritable even for root


@pytest.mark.parametrize(("daemon_yaml", "args", "expected"), [
    ("state_dir: afile\n", (), "cfg/daemon.yaml: state_dir: afile is a file, not a folder"),
    ("state_dir: afile/sub\n", (), "cfg/daemon.yaml: state_dir: cannot create the folder afile/sub: Not a directory"),
    ("", ("--state-dir", "afile/sub"), "--state-dir: cannot create the folder afile/sub: Not a directory"),
    ("control: {socket: afile/sub/x.sock}\n", (), "cfg/daemon.yaml: control.socket: cannot use afile/sub/x.sock"),
    ("log: {file: afile/sub/x.log}\n", (), "cfg/daemon.yaml: log.file: cannot write afile/sub/x.log: afile is a file, not a folder"),
    ("log: {file: sub}\n", (), "cfg/daemon.yaml: log.file: sub is a folder"),
    ("log: {file: x.log, rotation: banana}\n", (), "cfg/daemon.yaml: log.rotation: Cannot parse rotation from: 'banana'"),
])
def test_an_unusable_setting_is_one_line_and_exit_2(tmp_path, a_file, daemon_yaml, args, expected):
    (tmp_path / "sub").mkdir()
    cfg = config_dir(tmp_path, daemon_yaml)
    assert_one_clear_line(run("cfg", *args, cwd=tmp_path), expected)
    assert cfg.exists()


def test_a_tcp_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_dir(tmp_path, f"control: {{tcp: {{port: {port}}}}}\n")
        result = run("cfg", cwd=tmp_path, env={"BOTRUNNER_TOKEN": "a-token-of-16-chars"})
    assert_one_clear_line(result, f"cfg/daemon.yaml: control.tcp: cannot listen on 127.0.0.1:{port}")


def test_a_second_daemon_on_the_same_state_folder_is_refused_whatever_its_socket(tmp_path):
    config_dir(tmp_path, "control: {socket: one.sock}\n", bars=100_000, speed="1")
    first = subprocess.Popen([sys.executable, str(PROJECT / "main.py"), "run", "cfg", "--state-dir", "state"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "one.sock").exists():
            assert time.monotonic() < deadline and first.poll() is None, "the first daemon did not start"
            time.sleep(0.05)
        (tmp_path / "cfg" / "daemon.yaml").write_text("control: {socket: two.sock}\n")
        second = run("cfg", "--state-dir", "state", cwd=tmp_path)
        assert_one_clear_line(second, f"--state-dir: another botrunner daemon (pid {first.pid}) is using the "
                                      "state folder state")
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_the_state_folder_and_its_files_are_private(tmp_path):
    config_dir(tmp_path, "")
    result = run("cfg", "--state-dir", "state", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    state = tmp_path / "state"
    modes = {p.relative_to(state).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [state, *state.rglob("*")]}
    assert modes.pop(".") == 0o700 and modes.pop("bots") == 0o700
    assert {"journal.sqlite3", ".lock", "bots/b.json"} <= set(modes)
    assert all(mode == 0o600 for mode in modes.values()), modes
