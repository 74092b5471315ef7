"""Throwaway PostgreSQL and Redis servers on 127.0.0.1, for the cluster tests and benches.

Each runs from a temporary folder on a free port, as a child of this process that the kernel
stops when this process ends (a test session killed by a timeout leaves no server running),
and is stopped (its folder removed) by `stop()`. PostgreSQL refuses to run as root: as root,
its folder is given to the `postgres` user and its programs run as that user. Authentication
is `trust` on the loopback only, as a test server needs no password; `fsync=off` (tests)
because these databases are thrown away: a commit still commits, only the disk flush goes.

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
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
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
    process: subprocess.Popen

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        _end(self.process, signal.SIGINT)          # PostgreSQL's fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(*, fsync: bool = False) -> LocalPostgres:
    """initdb a cluster in a new temporary folder and start it on a free loopback port, as a
    child that ends with this process (see `_with_parent`). Raises ServerUnavailable when
    PostgreSQL's programs are not installed."""
    initdb, postgres, ready = find_program("initdb"), find_program("postgres"), find_program("pg_isready")
    if initdb is None or postgres is None or ready is None:
        raise ServerUnavailable("PostgreSQL's initdb, postgres and pg_isready are not installed "
                                "(Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="botrunner-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, sockets = folder / "data", folder / "sockets"
    subprocess.run([*as_postgres, "mkdir", "-m", "700", str(sockets)], check=True)
    subprocess.run([*as_postgres, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-locale"], check=True, capture_output=True, timeout=120)
    durability = [] if fsync else ["-c", "fsync=off", "-c", "full_page_writes=off"]
    for _ in range(5):                      # another process may take the free port before we do
        port = free_port()
        with open(folder / "postgres.log", "ab") as log:
            process = subprocess.Popen(
                [*_with_parent(signal.SIGINT, as_user="postgres" if as_postgres else None), postgres,
                 "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(sockets),
                 "-c", "max_connections=200", *durability], stdout=log, stderr=subprocess.STDOUT)
        if _wait(lambda: subprocess.run([ready, "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0, process):
            return LocalPostgres(folder, port, process)
    log = (folder / "postgres.log").read_text(errors="replace")[-2000:]
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:\n{log}")


@dataclass
class LocalRedis:
    folder: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        _end(self.process, signal.SIGTERM)
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
        process = subprocess.Popen([*_with_parent(signal.SIGTERM), program, "--port", str(port), "--bind",
                                    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _wait(lambda: _redis_answers(port), process):
            return LocalRedis(folder, port, process)
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"redis-server did not start on 127.0.0.1 (exit code {process.returncode})")


def _with_parent(signum: int, *, as_user: str | None = None) -> list[str]:
    """The command prefix that runs a server (as `as_user`) and has the kernel send it `signum`
    when this process ends, even by SIGKILL: a test session killed by a timeout leaves no server
    behind. setpriv execs the server (it stays our child) and sets the signal after changing
    user, which would clear it; without setpriv the server just runs."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return ["runuser", "-u", as_user, "--"] if as_user else []
    prefix = [setpriv, "--pdeathsig", signal.Signals(signum).name]
    if as_user:
        prefix += [f"--reuid={as_user}", f"--regid={as_user}", "--init-groups"]
    return [*prefix, "--"]


def _end(process: subprocess.Popen, signum: int) -> None:
    process.send_signal(signum)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait(ready: Callable[[], bool], process: subprocess.Popen, timeout_secs: float = 60) -> bool:
    """Until `ready()`; False (the process ended) when it exits first or takes too long."""
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False                    # exited: the port was taken meanwhile, say
        if ready():
            return True
        time.sleep(0.05)
    _end(process, signal.SIGKILL)
    return False
