"""`botrunner` as a real process for integration tests: one command run to its end, or the daemon
started on a config folder, connected to over its socket, and stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from runner.control.client import ControlClient, DaemonNotRunning

PROJECT = Path(__file__).resolve().parents[1]


def botrunner(*args: str, cwd: Path = PROJECT, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `botrunner ARGS...` in `cwd` to its end (killed after `timeout` s), output captured."""
    return subprocess.run([sys.executable, str(PROJECT / "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def write_config_folder(folder: Path, daemon_yaml: str, bots: dict[str, str]) -> Path:
    """A daemon's config folder made at FOLDER: its daemon.yaml, and bots/<id>.yaml for each
    bot's text in `bots`. Returns FOLDER."""
    (folder / "bots").mkdir(parents=True)
    (folder / "daemon.yaml").write_text(daemon_yaml)
    for bot_id, text in bots.items():
        (folder / "bots" / f"{bot_id}.yaml").write_text(text)
    return folder


def bot_yaml_on_synthetic(bot_id: str, strategy: str) -> str:
    """A sim bot's YAML on 400 synthetic candles (seed 5) running `strategy` (a YAML flow mapping)."""
    return (f"id: {bot_id}\nsymbol: BTC/USDT\ncapital: 1000\nmarket: {{source: synthetic, seed: 5, bars: 400}}\n"
            f"strategy: {strategy}\n")


def start_daemon(config_dir: Path, state_dir: Path, *, env: dict[str, str] | None = None, live: bool = False,
                 log: Path | None = None) -> subprocess.Popen:
    """`botrunner run CONFIG_DIR --state-dir STATE_DIR [--live]` as a child process, with `env`
    added to this process's environment; its output captured, or appended to `log` (stdout and
    stderr both, so that a restart's follows the run before)."""
    args = [sys.executable, str(PROJECT / "main.py"), "run", str(config_dir), "--state-dir", str(state_dir),
            *(["--live"] if live else [])]
    environ = {**os.environ, **(env or {})}
    if log is None:
        return subprocess.Popen(args, cwd=PROJECT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    with open(log, "a") as out:
        return subprocess.Popen(args, cwd=PROJECT, env=environ, stdout=out, stderr=subprocess.STDOUT, text=True)


def stop_daemon(process: subprocess.Popen, timeout_secs: float = 20) -> str:
    """SIGTERM and wait (killed after `timeout_secs`); reaps one that already ended. Its captured
    stderr."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.communicate(timeout=timeout_secs)[1]
        except subprocess.TimeoutExpired:
            process.kill()
    return process.communicate()[1]


async def connected(socket_path: Path, timeout_secs: float = 120.0) -> ControlClient:
    """A client of the daemon listening on `socket_path`, once it answers (`timeout_secs` at most:
    on a loaded machine the daemon's imports alone took 20 s)."""
    async with asyncio.timeout(timeout_secs):
        while True:
            client = ControlClient(socket_path)
            try:
                await client.health()
                return client
            except DaemonNotRunning:
                await client.aclose()
                await asyncio.sleep(0.05)
