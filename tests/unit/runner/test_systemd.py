"""sd_notify over a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from runner.daemon import systemd
from runner.bot.clock import ManualClock
from tests.fakes import eventually


@pytest.fixture
def systemd_socket(monkeypatch) -> Iterator[Callable[[], list[str]]]:
    """A datagram socket at a short /tmp path (AF_UNIX paths are limited to ~107 bytes, which
    pytest's tmp_path can exceed), named in $NOTIFY_SOCKET. Yields: messages received so far."""
    folder = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(folder / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", str(folder / "notify"))
        yield lambda: _drain(sock)
    shutil.rmtree(folder)


def _drain(sock: socket.socket) -> list[str]:
    messages = []
    sock.setblocking(False)
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_lifecycle_messages_reach_systemd(systemd_socket):
    assert systemd.notify_ready()
    assert systemd.notify_status("3 bots running\n1 failed")
    assert systemd.notify_stopping()

    assert systemd_socket() == ["READY=1", "STATUS=3 bots running 1 failed", "STOPPING=1"]


def test_the_abstract_namespace_works(monkeypatch):
    name = f"botrunner-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)

        assert systemd.notify_ready()
        assert _drain(sock) == ["READY=1"]


def test_without_notify_socket_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)

    assert systemd.notify_ready() is False
    assert systemd.notify("WATCHDOG=1") is False


def test_a_failed_send_returns_false_and_warns_once(monkeypatch, log_records):
    missing = f"/tmp/botrunner-test-missing-{uuid.uuid4().hex}"
    monkeypatch.setenv("NOTIFY_SOCKET", missing)

    assert systemd.notify_ready() is False
    assert systemd.notify("WATCHDOG=1") is False

    warnings = [r for r in log_records if r["level"].name == "WARNING"]
    assert len(warnings) == 1 and missing in warnings[0]["message"]


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("30000000", None, 15.0),
    ("30000000", "self", 15.0),
    ("30000000", "1", None),
    (None, None, None),
    ("0", None, None),
    ("soon", None, None),
])
def test_watchdog_interval_is_half_the_timeout_when_the_watchdog_is_ours(monkeypatch, usec, pid, expected):
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(os.getpid()) if value == "self" else value)

    assert systemd.watchdog_interval_secs() == expected


class SteppedClock(ManualClock):
    """A ManualClock that notes, at each sleep, the time and the messages sent since the last one."""

    def __init__(self, received: Callable[[], list[str]]) -> None:
        super().__init__()
        self._received = received
        self.ticks: list[tuple[int, list[str]]] = []

    async def sleep(self, seconds: float) -> None:
        self.ticks.append((self.now_ms(), self._received()))
        await super().sleep(seconds)


async def test_the_watchdog_is_pinged_once_every_interval_while_healthy(systemd_socket):
    clock = SteppedClock(systemd_socket)
    pinging = asyncio.create_task(systemd.watchdog_loop(15, lambda: True, clock=clock))

    await eventually(lambda: len(clock.ticks) >= 4)
    pinging.cancel()
    await asyncio.wait({pinging})

    # One ping at start, then one per 15 s of the clock: never twice in a step, never a step skipped.
    assert clock.ticks[:4] == [(0, ["WATCHDOG=1"]), (15_000, ["WATCHDOG=1"]), (30_000, ["WATCHDOG=1"]),
                               (45_000, ["WATCHDOG=1"])]


async def test_the_watchdog_is_not_pinged_while_unhealthy(systemd_socket, log_records):
    clock = ManualClock()
    healthy = False
    pinging = asyncio.create_task(systemd.watchdog_loop(15, lambda: healthy, clock=clock))

    await eventually(lambda: clock.now_ms() >= 45_000)
    assert systemd_socket() == []
    healthy = True
    await eventually(lambda: clock.now_ms() >= 90_000)
    pinging.cancel()
    await asyncio.wait({pinging})

    assert set(systemd_socket()) == {"WATCHDOG=1"}
    assert [r["level"].name for r in log_records] == ["WARNING", "INFO"]  # changes only, not ticks


async def test_a_raising_health_check_counts_as_unhealthy(systemd_socket, log_records):
    clock = ManualClock()

    def broken() -> bool:
        raise RuntimeError("no bots?")

    pinging = asyncio.create_task(systemd.watchdog_loop(15, broken, clock=clock))
    await eventually(lambda: clock.now_ms() >= 45_000)
    pinging.cancel()
    await asyncio.wait({pinging})

    assert systemd_socket() == []
    assert [r["level"].name for r in log_records] == ["ERROR"]
