"""Cluster nodes as real `botrunner run` processes on one machine, for tests and the bench.

Every node reads the same bot files (a copy per node, as on separate machines) and has its own
state folder and control socket; all share one Redis and one PostgreSQL database, whose URLs
reach them through the environment, as in production.

    nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots={"btc": BOT_YAML}, lease_secs=2)
    nodes.start("node-a"); nodes.start("node-b")
    rows = await nodes.rows("node-a")           # every bot as `botrunner status` shows it
    nodes.signal("node-b", signal.SIGKILL)
    ...
    nodes.stop_all()
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runner.control.client import ControlClient, ControlClientError

PROJECT = Path(__file__).resolve().parents[2]


class ClusterNodes:
    def __init__(self, root: Path, redis_url: str, postgres_url: str, *, bots: dict[str, str],
                 lease_secs: float = 2.0, env: dict[str, str] | None = None, live: bool = False) -> None:
        self.root = root
        self.bots = bots
        self.lease_secs = lease_secs
        self.live = live
        self.env = {**os.environ, "BOTRUNNER_REDIS_URL": redis_url, "BOTRUNNER_POSTGRES_URL": postgres_url,
                    **(env or {})}
        self.processes: dict[str, subprocess.Popen] = {}
        # AF_UNIX paths are at most 107 bytes; pytest's tmp_path can be longer than that.
        self._sockets = Path(tempfile.mkdtemp(prefix="brc-"))

    def socket(self, node: str) -> Path:
        return self.control_dir(node) / "botrunner.sock"

    def control_dir(self, node: str) -> Path:
        """What `botrunner status --state-dir` is given to reach `node` (its socket's folder)."""
        return self._sockets / node

    def cli(self, node: str, *args: str) -> subprocess.CompletedProcess:
        """`botrunner ARGS... --state-dir <node's socket folder>`, run to its end."""
        return subprocess.run([sys.executable, str(PROJECT / "main.py"), *args, "--state-dir", str(self.control_dir(node))],
                              cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=60)

    def log_path(self, node: str) -> Path:
        return self.root / f"{node}.log"

    def log(self, node: str) -> str:
        path = self.log_path(node)
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, node: str) -> subprocess.Popen:
        """`botrunner run` for `node` (its folder written the first time), output to its log."""
        config = self.root / node / "config"
        if not config.exists():
            (config / "bots").mkdir(parents=True)
            (config / "daemon.yaml").write_text(
                f"snapshot_interval_secs: 0.2\nstop_grace_secs: 5\ncontrol: {{socket: {self.socket(node)}}}\n"
                f"cluster: {{node: {node}, lease_secs: {self.lease_secs}}}\n")
            for bot_id, text in self.bots.items():
                (config / "bots" / f"{bot_id}.yaml").write_text(text)
        args = [sys.executable, str(PROJECT / "main.py"), "run", str(config), "--state-dir", str(self.root / node / "state")]
        with open(self.log_path(node), "a") as out:
            process = subprocess.Popen([*args, *(["--live"] if self.live else [])], cwd=PROJECT, env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT, text=True)
        self.processes[node] = process
        return process

    def signal(self, node: str, signum: int) -> None:
        self.processes[node].send_signal(signum)
        if signum == signal.SIGKILL:
            self.processes[node].wait(timeout=10)

    async def stop(self, node: str, timeout_secs: float = 30.0) -> int:
        """SIGTERM and wait (without blocking the loop: a stand-in may answer from it)."""
        process = self.processes[node]
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_secs
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"{node} did not stop after SIGTERM; log:\n{self.log(node)[-3000:]}")
            await asyncio.sleep(0.05)
        return process.returncode

    async def stop_many(self, nodes: list[str]) -> list[int]:
        """SIGTERM them all at once, then wait for each; their exit codes."""
        return list(await asyncio.gather(*(self.stop(node) for node in nodes)))

    async def stop_all(self) -> None:
        running = [node for node, process in self.processes.items() if process.poll() is None]
        await asyncio.gather(*(self.stop(node) for node in running), return_exceptions=True)
        shutil.rmtree(self._sockets, ignore_errors=True)

    async def request(self, node: str, call) -> Any:
        async with ControlClient(self.socket(node), timeout_secs=10) as client:
            return await call(client)

    async def rows(self, node: str) -> dict[str, Any]:
        """Every bot's status as `node` shows it, by id."""
        return {s.id: s for s in await self.request(node, lambda c: c.bots())}

    async def until(self, condition, what: str, *, node: str = "node-a", timeout_secs: float = 45.0) -> Any:
        """Poll `await condition(self)` until it is truthy (Control errors count as not yet)."""
        deadline = time.monotonic() + timeout_secs
        while True:
            try:
                result = await condition(self)
            except ControlClientError:
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.log(n)[-2500:]}" for n in self.processes)
                raise AssertionError(f"{what}: not within {timeout_secs}s\n{logs}")
            await asyncio.sleep(0.1)
