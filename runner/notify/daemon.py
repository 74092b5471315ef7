"""The daemon's notifications, subscribed in one place: the daemon's composition root.

Kills and fills already surface as journal events, written by the runner wherever they happen
(a rule, `botrunner kill`, the stale-data watch, a flatten at start); a bot the supervisor gives
up on is journalled too (`lifecycle`, `stays_down`). So `DaemonNotifications.on_journal_event`
listens to the journal (`SqliteJournal.subscribe`) instead of a call in each of those places.
The journal calls listeners only for events it stores for the first time: a bot re-running
its candles after a crash writes its kills and fills again, and nobody hears of them twice.
The daemon's start and stop are told by the daemon itself, and `DailySummary` keeps time.

    async with open_notifications(config, os.environ, statuses=manager.statuses,
                                  mode_of=manager.mode_of) as notifications:
        journal.subscribe(notifications.on_journal_event)
        notifications.daemon_started()
        ...
        notifications.daemon_stopped()     # sent before the block's exit drains the queues
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from loguru import logger

from market.clock import SYSTEM_CLOCK, Clock
from runner.control.status import BotStatus
from runner.notify import events
from runner.notify.apprise_target import AppriseTarget
from runner.notify.config import NotificationsConfig
from runner.notify.daily import DailySummary
from runner.notify.events import Notice
from runner.notify.sender import NotificationSender, NotificationTarget, SenderStats
from runner.state.journal import JournalEvent

__all__ = ["DaemonNotifications", "open_notifications"]


class DaemonNotifications:
    """Turns what the daemon does into notices, for the events configured, and offers each to
    every target's sender. Every method returns at once: nothing here waits for a network."""

    def __init__(self, config: NotificationsConfig, senders: list[NotificationSender], *,
                 statuses: Callable[[], list[BotStatus]], mode_of: Callable[[str], str | None],
                 host: str) -> None:
        self._events = frozenset(config.events)
        self._fill_modes = frozenset(config.fill_modes)
        self._senders = senders
        self._statuses = statuses
        self._mode_of = mode_of
        self.host = host

    def offer(self, notice: Notice) -> None:
        if notice.event in self._events:
            for sender in self._senders:
                sender.offer(notice)

    def on_journal_event(self, event: JournalEvent) -> None:
        """A journal listener: called on the bot's own task as the event is stored, so it only
        filters and queues. Never raises: the journal guards its listeners anyway."""
        kind = event.kind
        if kind == "kill":
            self.offer(events.kill(event))
        elif kind == "lifecycle" and event.data.get("stays_down"):
            self.offer(events.failed(event))
        elif kind == "fill" and "fill" in self._events:
            mode = self._mode_of(event.bot_id)
            if mode in self._fill_modes:
                self.offer(events.fill(event, mode))

    def daemon_started(self) -> None:
        self.offer(events.daemon_started(self.host, self._statuses()))

    def daemon_stopped(self) -> None:
        self.offer(events.daemon_stopped(self.host, self._statuses()))

    def stats(self) -> list[SenderStats]:
        return [s.stats() for s in self._senders]


@asynccontextmanager
async def open_notifications(config: NotificationsConfig, environ: Mapping[str, str], *,
                             statuses: Callable[[], list[BotStatus]], mode_of: Callable[[str], str | None],
                             clock: Clock = SYSTEM_CLOCK, host: str | None = None,
                             targets: list[NotificationTarget] | None = None,
                             daily_poll_secs: float = 30.0) -> AsyncIterator[DaemonNotifications]:
    """Start a sender per URL variable (or per one of `targets`, which replace them) and the
    daily summary; on exit stop the summary and give the queues `config.drain_secs` to empty.

    Raises AppriseUnavailable or NotificationFailed (naming the variable) when a URL cannot be
    used; `plan_daemon` has checked both before anything started."""
    if targets is None:
        targets = [AppriseTarget(name, environ[name]) for name in config.urls_env]
    senders = [NotificationSender(t, queue_size=config.queue_size, retries=config.retries,
                                  backoff_initial_secs=config.backoff_initial_secs,
                                  backoff_max_secs=config.backoff_max_secs,
                                  send_timeout_secs=config.send_timeout_secs) for t in targets]
    host = host or socket.gethostname()
    notifications = DaemonNotifications(config, senders, statuses=statuses, mode_of=mode_of, host=host)
    for sender in senders:
        sender.start()
    daily = None
    if "daily" in config.events:
        summary = DailySummary(statuses, notifications.offer, at_minutes=config.daily_at_minutes, clock=clock,
                               host=host, poll_secs=daily_poll_secs, time_zone=config.daily_time_zone)
        daily = asyncio.create_task(summary.run(), name="notify:daily")
    logger.info("Notifications on ({}) to {}", ", ".join(config.events),
                ", ".join(f"${t.name}" for t in targets))
    try:
        yield notifications
    finally:
        if daily is not None:
            daily.cancel()
            await asyncio.gather(daily, return_exceptions=True)
        await asyncio.gather(*(s.aclose(config.drain_secs) for s in senders))
