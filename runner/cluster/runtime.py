"""A cluster node's parts, opened and closed in order: what `botrunner run` adds in cluster mode.

    async with ClusterRuntime.open(daemon.cluster, os.environ) as cluster:
        services = DaemonServices(journal=cluster.journal, snapshots=cluster.snapshots, ...)
        manager = BotManager(bots, services, autostart=False, exit_when_done=False)
        control = cluster.control(manager, services, notify=...)      # for the control API
        await cluster.run(manager, stop)

Redis is reached first (a ping, bounded), then PostgreSQL (the schema migrated on the way);
either unreachable stops the start with a message naming the variable and the URL without its
password. `run` keeps the leases while the manager runs the bots it is given, and on the way
out, once the manager has stopped them and saved them, hands the leases back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runner.cluster.config import ClusterConfig, redacted
from runner.cluster.control import ClusterControl
from runner.cluster.coordinator import ClusterCoordinator
from runner.cluster.events import ClusterEvents
from runner.cluster.kill_switch import GlobalKillSwitch
from runner.cluster.leases import LeaseStore
from runner.cluster.nodes import NodeRegistry
from runner.cluster.postgres.errors import StorageError
from runner.cluster.postgres.journal import PostgresBotJournal, PostgresJournal
from runner.cluster.postgres.snapshots import PostgresSnapshotStore
from runner.daemon.manager import BotManager
from runner.daemon.services import DaemonServices
from runner.notify.events import Notice
from runner.state.state_dir import StartupError

__all__ = ["ClusterRuntime", "ClusterUnreachable"]

CONNECT_TIMEOUT_SECS = 5.0


class ClusterUnreachable(StartupError):
    """Redis or PostgreSQL cannot be reached at start; the message names the variable
    (`botrunner run` exits 2 with it, as for any setting that stops the start)."""


class _Fencing:
    """`Fencing` (runner.cluster.coordinator) on the PostgreSQL journal."""

    def __init__(self, journal: PostgresJournal) -> None:
        self._journal = journal

    async def claim(self, bot_id: str, token: int) -> bool:
        return await self._journal.claim(bot_id, token)

    async def fence(self, bot_id: str) -> int:
        return await self._journal.current_fence(bot_id)

    def journal_for(self, bot_id: str, token: int) -> PostgresBotJournal:
        return self._journal.for_bot(bot_id, token)


class ClusterRuntime:
    def __init__(self, config: ClusterConfig, redis: Redis, journal: PostgresJournal,
                 snapshots: PostgresSnapshotStore) -> None:
        self.config = config
        self.redis = redis
        self.journal = journal
        self.snapshots = snapshots
        prefix, node, lease_ms = config.key_prefix, config.node, config.timings().lease_ms
        self.leases = LeaseStore(redis, prefix, node, lease_ms)
        self.nodes = NodeRegistry(redis, prefix, node, lease_ms)
        self.kill_switch = GlobalKillSwitch(redis, prefix, node)
        self.coordinator: ClusterCoordinator | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, config: ClusterConfig, environ: Mapping[str, str]) -> AsyncIterator[ClusterRuntime]:
        redis_url, postgres_url = environ[config.redis_url_env], environ[config.postgres_url_env]
        redis = Redis.from_url(redis_url, socket_connect_timeout=CONNECT_TIMEOUT_SECS,
                               socket_timeout=CONNECT_TIMEOUT_SECS, health_check_interval=5)
        try:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECS):
                    await redis.ping()
            except (RedisError, OSError, TimeoutError) as exc:
                raise ClusterUnreachable(f"cluster.redis_url_env: cannot reach Redis at {redacted(redis_url)} "
                                         f"(from {config.redis_url_env}): {type(exc).__name__}") from None
            try:
                journal = await asyncio.to_thread(PostgresJournal.open, postgres_url)
            except ConnectionError as exc:
                raise ClusterUnreachable(f"cluster.postgres_url_env ({config.postgres_url_env}): {exc}") from None
            except StorageError as exc:          # a database migrated by a newer botrunner, say
                raise StartupError(f"cluster.postgres_url_env ({config.postgres_url_env}): {exc}") from None
            try:
                runtime = cls(config, redis, journal, PostgresSnapshotStore(journal))
                logger.info("Cluster node {}: Redis {}, PostgreSQL {}", config.node, redacted(redis_url), journal.url)
                yield runtime
            finally:
                journal.close()
        finally:
            await redis.aclose()

    def control(self, manager: BotManager, services: DaemonServices, bot_ids: list[str],
                notify: Callable[[Notice], None] | None = None,
                baskets: Mapping[str, str] | None = None, stop_grace_secs: float = 10.0) -> ClusterControl:
        """The coordinator of `manager`'s bots (`bot_ids`, the enabled ones; `baskets`: each
        basket leg's id -> its basket's, leased whole), and the control API's view of this node
        (`stop_grace_secs`: the daemon's, how long a kill waits for a bot)."""
        lease_ms = self.config.timings().lease_ms
        self.coordinator = ClusterCoordinator(
            bots=manager, bot_ids=bot_ids, leases=self.leases, nodes=self.nodes, kill_switch=self.kill_switch,
            fencing=_Fencing(self.journal), timings=self.config.timings(),
            events=ClusterEvents(self.redis, self.config.key_prefix, self.config.node, lease_ms, notify),
            flush_snapshot=services.checkpoints.aflush, kill_all_at_loss=self.config.kill_all_at_loss_pct,
            baskets=baskets, saved_figures=self.snapshots)
        return ClusterControl(manager, self.coordinator, self.nodes, self.kill_switch, stop_grace_secs=stop_grace_secs)

    async def run(self, manager: BotManager, stop: asyncio.Event) -> Any:
        """Keep the leases while `manager` runs; once `stop` is set, take no more bots, let the
        manager stop and save its bots (renewing meanwhile), then give the leases back."""
        coordinator = self.coordinator
        assert coordinator is not None, "control() first"
        leases = asyncio.create_task(coordinator.run(), name="cluster:leases")
        closing = asyncio.create_task(_close_on(stop, coordinator), name="cluster:closing")
        try:
            return await manager.run(stop)
        finally:
            closing.cancel()
            leases.cancel()
            await asyncio.gather(closing, leases, return_exceptions=True)
            await coordinator.leave()


async def _close_on(stop: asyncio.Event, coordinator: ClusterCoordinator) -> None:
    await stop.wait()
    coordinator.closing = True
