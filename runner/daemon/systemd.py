"""Talking to systemd: readiness, stopping, status and the watchdog (the sd_notify protocol).

With `Type=notify` systemd starts the next unit only once we send `READY=1`, and with
`WatchdogSec=` it restarts us when `WATCHDOG=1` stops arriving, which is how a wedged event loop
(a bot stuck in a blocking call) gets noticed. Outside systemd `$NOTIFY_SOCKET` is unset and
every call here does nothing, so the daemon runs the same by hand.

The protocol is one datagram of `KEY=value` lines to the AF_UNIX socket named in
`$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). No libsystemd needed.
"""

from __future__ import annotations

import os
import socket
from typing import Callable

from loguru import logger

from runner.bot.clock import SYSTEM_CLOCK, Clock

_warned_addresses: set[str] = set()


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1") to systemd. True if sent; False when not under systemd
    (`$NOTIFY_SOCKET` unset) or the send failed. Never raises: the first failure per socket
    is logged at WARNING, and the rest silently, so a watchdog ping cannot flood the log."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Non-blocking: if systemd's queue is full we drop this message (the next watchdog
            # ping comes within half the timeout) rather than stall every bot on the loop.
            sock.setblocking(False)
            sock.sendto(message.encode(), target)
    except OSError as exc:
        if address not in _warned_addresses:
            _warned_addresses.add(address)
            logger.warning("Cannot notify systemd at {} ({}); check NOTIFY_SOCKET and NotifyAccess= "
                           "in the unit. Further failures are not logged", address, exc)
        return False
    return True


def notify_ready() -> bool:
    """Tell systemd start-up is done (bots built, state restored): `Type=notify` waits for it."""
    return notify("READY=1")


def notify_stopping() -> bool:
    """Tell systemd a clean shutdown has begun, so a slow stop is not taken for a hang."""
    return notify("STOPPING=1")


def notify_status(text: str) -> bool:
    """One line shown by `systemctl status`, e.g. "12 bots running, 1 failed"."""
    # A newline would start a new KEY=value assignment in the datagram.
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_interval_secs() -> float | None:
    """How often to ping the watchdog: half of `$WATCHDOG_USEC`, as sd_watchdog_enabled advises.

    None when the watchdog is off, `$WATCHDOG_USEC` is not a positive integer, or
    `$WATCHDOG_PID` names another process (the watchdog is then not ours to feed).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid is not None and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


async def watchdog_loop(
    interval_secs: float,
    is_healthy: Callable[[], bool],
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Send `WATCHDOG=1` every `interval_secs` while `is_healthy()` says so; runs until cancelled.

    An unhealthy daemon (or one whose check raises) stops pinging, and systemd restarts it once
    `WatchdogSec` passes without a ping. Only changes of health are logged, not every tick.

        if (interval := watchdog_interval_secs()) is not None:
            tg.create_task(watchdog_loop(interval, manager.is_healthy), name="systemd-watchdog")
    """
    healthy_before = True
    while True:
        try:
            healthy = bool(is_healthy())
        except Exception:
            if healthy_before:
                logger.exception("Health check failed; not pinging the systemd watchdog")
            healthy = False
        else:
            if healthy_before and not healthy:
                logger.warning("Unhealthy; not pinging the systemd watchdog, which will restart the "
                               "daemon unless health returns within WatchdogSec")
        if healthy:
            if not healthy_before:
                logger.info("Healthy again; pinging the systemd watchdog")
            notify("WATCHDOG=1")
        healthy_before = healthy
        await clock.sleep(interval_secs)
