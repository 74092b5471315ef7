"""What the cluster benches share (imported as bench.cluster_setup, the project's folder on the
path as each bench puts it): a throwaway Redis and PostgreSQL on 127.0.0.1
(tests.cluster.servers), `botrunner run` nodes in cluster mode on them (tests.cluster.nodes) and
the paced sim bots they run (tests.cluster.sim_bots).

    async with throwaway_cluster(paced_sim_bots(30, bars=20000), lease_secs=6, prefix="my-bench-") as nodes:
        names = node_names(3)
        for name in names:
            nodes.start(name)
        ...

On leaving the block, however it is left (an error, a timeout's cancel), every node still
running gets SIGTERM and is waited for, both servers stop and the nodes' folder is removed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg

from tests.cluster.nodes import ClusterNodes
from tests.cluster.servers import start_postgres, start_redis
from tests.cluster.sim_bots import sim_bots

DATABASE = "bench"


def paced_sim_bots(count: int, *, bars: int) -> dict[str, str]:
    """`count` sim bots sim-1 ... sim-<count> (tests.cluster.sim_bots), a candle a second each,
    seeded by their number, with `bars` candles: enough that none finishes during the bench."""
    return sim_bots(*(f"sim-{i}" for i in range(1, count + 1)), bars=bars, speed=60)


def node_names(count: int) -> list[str]:
    """node-a, node-b, ... (`count` of them)."""
    return [f"node-{chr(ord('a') + i)}" for i in range(count)]


@asynccontextmanager
async def throwaway_cluster(bots: dict[str, str], *, lease_secs: float, prefix: str) -> AsyncIterator[ClusterNodes]:
    """Nodes (none started yet) sharing `bots` on a fresh Redis and a fresh PostgreSQL database,
    their folders in a temporary folder named with `prefix`; all stopped and removed on exit."""
    async with AsyncExitStack() as stack:
        postgres = start_postgres()
        stack.callback(postgres.stop)
        redis = start_redis()
        stack.callback(redis.stop)
        root = Path(tempfile.mkdtemp(prefix=prefix))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        connection = await asyncpg.connect(postgres.url("postgres"))
        try:
            await connection.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            await connection.close()
        nodes = ClusterNodes(root, redis.url, postgres.url(DATABASE), bots=bots, lease_secs=lease_secs)
        stack.push_async_callback(nodes.stop_all)      # first out: the nodes before their servers
        yield nodes
