"""Throwaway PostgreSQL and Redis servers on 127.0.0.1, for the cluster tests and benches.

Each runs from a temporary folder on a free port and is stopped (its folder removed) by
`stop()`. PostgreSQL refuses to run as root: as root, its folder is given to the `postgres`
user and its programs run through `runuser -u postgres --`. Authentication is `trust` on the
loopback only, as a test server needs no password; `fsync=off` because these databases are
thrown away (a test's durability is the commit, which PostgreSQL still does).

    server = start_postgres()
    try:
        url = server.url("postgres")
    finally:
        server.stop()
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class ServerUnavailable(Exception):
    """A server's program is not installed here; the message names it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_program(name: str) -> str | None:
    """`name` on PATH, else in Debian's versioned PostgreSQL folder (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


@dataclass
class LocalPostgres:
    folder: Path
    port: int
    _pg_ctl: str
    _as_postgres: list[str]

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run([*self._as_postgres, self._pg_ctl, "stop", "-D", str(self.folder / "data"), "-m", "immediate",
                        "-w"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(*, fsync: bool = False) -> LocalPostgres:
    """initdb a cluster in a new temporary folder and start it on a free loopback port.
    Raises ServerUnavailable when initdb or pg_ctl is not installed."""
    initdb, pg_ctl = find_program("initdb"), find_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise ServerUnavailable("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="botrunner-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, sockets = folder / "data", folder / "sockets"
    subprocess.run([*as_postgres, "mkdir", "-m", "700", str(sockets)], check=True)
    subprocess.run([*as_postgres, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-locale"], check=True, capture_output=True, timeout=120)
    for _ in range(5):                      # another process may take the free port before we do
        port = free_port()
        options = (f"-h 127.0.0.1 -p {port} -k {sockets} -c max_connections=200"
                   f"{'' if fsync else ' -c fsync=off -c full_page_writes=off'}")
        started = subprocess.run([*as_postgres, pg_ctl, "start", "-D", str(data), "-w", "-t", "60",
                                  "-l", str(folder / "postgres.log"), "-o", options],
                                 capture_output=True, text=True, timeout=90)
        if started.returncode == 0:
            return LocalPostgres(folder, port, pg_ctl, as_postgres)
    log = (folder / "postgres.log").read_text(errors="replace")[-2000:]
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{log}")


@dataclass
class LocalRedis:
    folder: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_redis() -> LocalRedis:
    """redis-server on a free loopback port, nothing saved to disk. Raises ServerUnavailable
    when redis-server is not installed."""
    program = find_program("redis-server")
    if program is None:
        raise ServerUnavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="botrunner-redis-"))
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen([program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(folder)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _wait_for_port(port, process):
            return LocalRedis(folder, port, process)
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"redis-server did not start on 127.0.0.1 (exit code {process.returncode})")


def _wait_for_port(port: int, process: subprocess.Popen, timeout_secs: float = 30) -> bool:
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False                    # exited: the port was taken meanwhile
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    return False
