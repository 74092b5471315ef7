"""`NotificationSender`: a bounded queue and one background task that sends what is in it.

A bot that trips its kill switch calls `offer()`, which never waits: the notice goes in the
queue, or, when the queue is full (the chat service down for an hour, a webhook that hangs),
it is dropped and counted. The sender task takes notices one at a time, in order, and gives
each `retries` more attempts after a failure, waiting `backoff_initial_secs`, then twice as
long, up to `backoff_max_secs`; one attempt gets at most `send_timeout_secs`. A notice that
fails every attempt is logged and counted, and the next one is tried.

    sender = NotificationSender(target, queue_size=100, retries=3)
    sender.start()
    sender.offer(notice)          # from anywhere on the event loop; returns at once
    await sender.aclose(drain_secs=5)

Logs name the target by `target.name` (the environment variable holding its URL), never the
URL, which carries the chat's token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from loguru import logger

from runner.notify.events import Notice

__all__ = ["NotificationFailed", "NotificationSender", "NotificationTarget", "SenderStats"]


class NotificationFailed(Exception):
    """A target could not deliver a notice; the message is safe to log (no URL in it)."""


class NotificationTarget(Protocol):
    """Where notices go. `name` is safe to log; `send` raises NotificationFailed."""

    name: str

    async def send(self, notice: Notice) -> None: ...


@dataclass(slots=True, frozen=True)
class SenderStats:
    """One target's counters since the daemon started, for /metrics and /health."""

    target: str
    sent: int            # delivered
    failed: int          # given up on after every retry
    dropped: int         # not delivered: the queue was full, or the daemon stopped first
    retries: int         # attempts after a first failure
    queued: int          # waiting now


class NotificationSender:
    """Sends the notices offered to it to one target, off the bots' path; see the module docstring."""

    def __init__(self, target: NotificationTarget, *, queue_size: int = 100, retries: int = 3,
                 backoff_initial_secs: float = 1.0, backoff_max_secs: float = 60.0,
                 send_timeout_secs: float = 10.0) -> None:
        self.target = target
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=queue_size)
        self._retries = retries
        self._backoff_initial_secs = backoff_initial_secs
        self._backoff_max_secs = backoff_max_secs
        self._send_timeout_secs = send_timeout_secs
        self._task: asyncio.Task | None = None
        self.sent = self.failed = self.dropped = self.retried = 0
        self._dropping_since = 0      # drops in the current full-queue spell, for one log line per spell

    def offer(self, notice: Notice) -> bool:
        """Queue `notice` without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += 1
            if self._dropping_since == 0:
                logger.warning("Notifications to ${}: queue full ({} waiting; the target is slow or down), "
                               "dropping new ones until it drains; see botrunner_notifications_dropped_total",
                               self.target.name, self._queue.qsize())
            self._dropping_since += 1
            return False
        if self._dropping_since:
            logger.warning("Notifications to ${}: {} dropped while the queue was full", self.target.name,
                           self._dropping_since)
            self._dropping_since = 0
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"notify:{self.target.name}")

    def stats(self) -> SenderStats:
        return SenderStats(self.target.name, self.sent, self.failed, self.dropped, self.retried, self._queue.qsize())

    async def aclose(self, drain_secs: float = 5.0) -> None:
        """Give what is queued up to `drain_secs` to go out (the daemon's own "stopped" notice is
        usually among it), then stop; what is left, the one being sent included, is counted as dropped."""
        if self._task is None:
            return
        dropped_before = self.dropped
        if not self._task.done():
            try:
                await asyncio.wait_for(self._queue.join(), drain_secs)
            except TimeoutError:
                pass
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            self._queue.get_nowait()
            self.dropped += 1
        if self.dropped > dropped_before:
            logger.warning("Notifications to ${}: {} not delivered at shutdown (not within {:g}s)",
                           self.target.name, self.dropped - dropped_before, drain_secs)

    async def _run(self) -> None:
        while True:
            notice = await self._queue.get()
            try:
                await self._deliver(notice)
            except asyncio.CancelledError:
                self.dropped += 1           # stopped while sending or waiting to retry it
                raise
            finally:
                self._queue.task_done()

    async def _deliver(self, notice: Notice) -> None:
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(self._send_timeout_secs):
                    await self.target.send(notice)
            except TimeoutError:
                why = f"no answer within {self._send_timeout_secs:g}s"
            except NotificationFailed as exc:
                why = str(exc)
            except Exception as exc:           # a bug in a notification library must not end the sender
                why = f"{type(exc).__name__}"  # its message may quote the URL
            else:
                self.sent += 1
                return
            if attempt == attempts:
                self.failed += 1
                logger.error("Notification {!r} to ${} not delivered after {} attempt(s): {}",
                             notice.title, self.target.name, attempts, why)
                return
            self.retried += 1
            backoff = min(self._backoff_initial_secs * 2 ** (attempt - 1), self._backoff_max_secs)
            logger.warning("Notification {!r} to ${} failed: {}; retrying in {:g}s (attempt {} of {})",
                           notice.title, self.target.name, why, backoff, attempt + 1, attempts)
            await asyncio.sleep(backoff)
