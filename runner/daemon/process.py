"""`botrunner run`: the composition root of the daemon, and its life from start to exit.

Start in dependency order (state folder, journal, feeds, bots, control socket, then tell systemd
we are ready) and stop in reverse. SIGTERM and SIGINT only set an event; the manager then
stops every bot at a candle boundary within the grace period, snapshots are written, the
journal is closed, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path

from loguru import logger

from market.shared import FeedHub
from runner.bot.errors import SIGINT_ONLY_STOPS
from runner.daemon import systemd
from runner.daemon.loop_watchdog import LoopWatchdog
from runner.control.endpoints import check_control_endpoints
from runner.control.server import serve_control
from runner.config.daemon import load_config_dir
from runner.state.forecasts import FORECASTS_FILE, ForecastStore
from runner.state.journal import SqliteJournal
from runner.daemon.manager import BotManager, DaemonServices
from runner.basket.provider import basket_refreshers
from runner.daemon.plan import (LIVE_ENV, DaemonPlan, LiveTradingNotAllowed, check_live_gates, demo_daemon_config,
                                plan_daemon)
from runner.daemon.services import RiskGroups
from runner.daemon.startup_heap import freeze_startup_heap
from runner.notify.daemon import DaemonNotifications, open_notifications
from runner.state.snapshots import SnapshotStore
from runner.state.state_dir import JOURNAL_FILE, SNAPSHOT_FOLDER, StateDirLock, private_file
from runner.control.status import BotStatus

# The plan is read in runner.daemon.plan, without this module's imports (`botrunner run` refuses
# a bad config before loading the daemon); its names stay importable from here.
__all__ = ["JOURNAL_CHECK_SECS", "JOURNAL_FILE", "LIVE_ENV", "SNAPSHOT_FOLDER", "DaemonPlan", "JournalWatch",
           "LiveTradingNotAllowed", "check_live_gates", "demo_daemon_config", "format_summary",
           "freeze_startup_heap", "plan_daemon", "run_daemon"]

JOURNAL_CHECK_SECS = 5.0


async def run_daemon(plan: DaemonPlan, *, stop: asyncio.Event | None = None,
                     state_lock: StateDirLock | None = None) -> list[BotStatus]:
    """Run until every bot is done or a stop signal arrives; return the bots' final statuses.
    `state_lock`: the state folder's lock, when the caller took it already (`botrunner run` does,
    before importing this module); released at the end either way.

    Raises StartupError (`runner.state.state_dir`) when the state folder is unusable or another daemon
    holds it, ControlEndpointUnusable or ControlSocketInUse when the control socket or port cannot
    be listened on: before the journal is opened and any bot built, as `botrunner run` refuses them."""
    stop = stop or asyncio.Event()
    state_lock = state_lock or StateDirLock.acquire(plan.state_dir, setting=plan.state_dir_setting)
    try:
        # `botrunner run` checked already; a program calling this directly has not. A bind and a
        # connect: cheap next to building the bots, which a taken port would otherwise follow.
        check_control_endpoints(plan.socket_path, plan.tcp_address)
        return await _run_locked(plan, stop)
    finally:
        state_lock.release()


async def _run_locked(plan: DaemonPlan, stop: asyncio.Event) -> list[BotStatus]:
    daemon, state_dir = plan.daemon, plan.state_dir
    socket_path = plan.socket_path
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stop)
    sigint_only_stops = SIGINT_ONLY_STOPS.set(True)   # the bots' tasks inherit it: a KeyboardInterrupt there is their code's

    async with AsyncExitStack() as stack:
        cluster = journal_watch = None
        if daemon.cluster is not None:     # journal and snapshots in PostgreSQL, leases in Redis
            from runner.cluster.runtime import ClusterRuntime      # redis and asyncpg: cluster mode only
            cluster = await stack.enter_async_context(ClusterRuntime.open(daemon.cluster, os.environ))
            journal, snapshots = cluster.journal, cluster.snapshots
        else:
            private_file(state_dir / JOURNAL_FILE)    # SQLite gives its -wal and -shm files this mode too
            journal = SqliteJournal(state_dir / JOURNAL_FILE)
            stack.callback(journal.close)
            journal_watch = JournalWatch(journal.path)
            snapshots = SnapshotStore(state_dir / SNAPSHOT_FOLDER)
        hub = FeedHub()
        forecasts = ForecastStore(state_dir / FORECASTS_FILE)
        stack.callback(forecasts.close)
        services = DaemonServices(hub=hub, journal=journal, snapshots=snapshots,
                                  forecasts=forecasts,
                                  risk_groups=RiskGroups(daemon.risk_groups, daemon.account_limits))
        stack.push_async_callback(services.aclose)
        # The shared feeds close before the exchange clients they read from (callbacks run in
        # reverse): a live feed polling a closed client logged an ERROR at every shutdown.
        stack.push_async_callback(hub.aclose)
        # Baskets whose symbols come from a provider (runner.basket.provider) keep its legs on a reload.
        services.risk_groups.baskets.keep_in(snapshots)    # baskets keep what their legs that left made
        baskets = basket_refreshers(plan.config_dir, daemon.bot_defaults, services.accounts) if plan.config_dir else None
        reload_configs = (lambda: baskets.replace_legs(load_config_dir(plan.config_dir)[1])) if baskets else None
        bots = plan.bots
        if baskets is not None:
            await baskets.prefetch()             # a top-volume basket's first symbols
            bots = baskets.replace_legs(plan.bots)
        manager = BotManager(bots, services, supervisor=daemon.supervisor,
                             stop_grace_secs=daemon.stop_grace_secs,
                             snapshot_interval_secs=daemon.snapshot_interval_secs,
                             reload_configs=reload_configs, autostart=cluster is None,
                             exit_when_done=cluster is None)   # a cluster node runs what it holds leases of
        control = manager
        notifications: DaemonNotifications | None = None
        if daemon.notifications is not None:
            notifications = await stack.enter_async_context(open_notifications(
                daemon.notifications, os.environ, statuses=manager.statuses, mode_of=manager.mode_of,
                clock=services.clock))
            journal.subscribe(notifications.on_journal_event)     # kills, fills, failed bots
        if cluster is not None:
            control = cluster.control(manager, services, [b.id for b in plan.bots if b.enabled],
                                      notify=notifications.offer if notifications else None,
                                      baskets={b.id: b.basket.basket for b in plan.bots if b.basket is not None},
                                      stop_grace_secs=daemon.stop_grace_secs)
        await stack.enter_async_context(await serve_control(control, socket_path=socket_path, tcp=plan.tcp_address,
                                                            token=plan.token,
                                                            health_problems=journal_watch.problems if journal_watch else list,
                                                            journal=journal,
                                                            notification_stats=notifications.stats if notifications else list))
        if baskets is not None:
            await stack.enter_async_context(baskets.running(manager))
        logger.info("Daemon up: {} bots, state in {}, control socket {}", len(plan.bots), state_dir, socket_path)
        systemd.notify_ready()
        if notifications is not None:
            notifications.daemon_started()
        watchdog = _start_watchdog()
        loop_watchdog = LoopWatchdog(loop, blocked_secs=daemon.loop_blocked_secs)   # a bot holding the loop
        loop_watchdog.start()
        freeze = asyncio.create_task(freeze_startup_heap(manager), name="daemon:gc-freeze")
        watch = asyncio.create_task(journal_watch.run() if journal_watch else stop.wait(), name="daemon:journal-watch")
        try:
            await (cluster.run(manager, stop) if cluster is not None else manager.run(stop))
        finally:
            systemd.notify_stopping()
            if notifications is not None:
                notifications.daemon_stopped()    # sent while the stack's exit drains its queue
            freeze.cancel()
            watch.cancel()
            if watchdog is not None:
                watchdog.cancel()
            loop_watchdog.stop()
        statuses = control.statuses()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    SIGINT_ONLY_STOPS.reset(sigint_only_stops)
    logger.info("Daemon stopped")
    await logger.complete()
    return statuses


class JournalWatch:
    """Notices the journal file being deleted or replaced under the running daemon.

    SQLite keeps writing to the open, unlinked file, so nothing fails: every event after that is
    lost at the next restart. Checked every JOURNAL_CHECK_SECS by comparing the path's inode with
    the one opened; while it differs, an ERROR line every minute and `/health` says so."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode = os.stat(path).st_ino
        self.lost = False

    def check(self) -> bool:
        """True while the journal file is gone from its path or replaced by another."""
        try:
            lost = os.stat(self.path).st_ino != self._inode
        except FileNotFoundError:
            lost = True
        self.lost = lost
        return lost

    def problems(self) -> list[str]:
        return [f"the journal {self.path} was deleted or replaced while the daemon runs; events "
                "written since are lost at the next restart. Stop the daemon and restore it"] if self.lost else []

    async def run(self) -> None:
        reported_at = -math.inf
        while True:
            await asyncio.sleep(JOURNAL_CHECK_SECS)
            if self.check() and time.monotonic() - reported_at >= 60.0:
                reported_at = time.monotonic()
                logger.error("{}", self.problems()[0])


def _on_signal(signum: int, stop: asyncio.Event) -> None:
    logger.info("{} received: stopping every bot at its next candle boundary", signal.Signals(signum).name)
    stop.set()


def _start_watchdog() -> asyncio.Task | None:
    interval = systemd.watchdog_interval_secs()
    if interval is None:
        return None
    # The event loop answering at all is the health that matters: a bot stuck in a CPU loop
    # would stop these pings, and systemd restarts us.
    return asyncio.create_task(systemd.watchdog_loop(interval, lambda: True), name="systemd:watchdog")


def format_summary(statuses: list[BotStatus]) -> str:
    """The table printed when the daemon exits."""
    lines = [f"{'bot':<28} {'state':<10} {'candles':>9} {'trades':>7} {'equity':>14} {'pnl':>12}  note"]
    for s in statuses:
        note = s.kill_reason or s.last_error
        lines.append(f"{s.id:<28} {s.state:<10} {s.bars:>9,} {s.trades:>7,} {s.equity:>14,.2f} {s.pnl:>12,.2f}  {note}")
    return "\n".join(lines)
