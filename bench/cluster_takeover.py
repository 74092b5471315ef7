"""Takeover time after a cluster node's death: SIGKILL the node running a bot, time until the
bot runs again on another node.

    python bench/cluster_takeover.py [--kills 20] [--lease-secs 2] [--nodes 2]

Starts a throwaway Redis and PostgreSQL on 127.0.0.1 (tests.cluster.servers) and `--nodes`
`botrunner run` processes in cluster mode sharing two paced sim bots (one per node). Each round:
SIGKILL the node holding `sim-1`, then poll another node's control API every 10 ms until
`sim-1` shows `running` there under a new lease; the time from the kill to that answer is one
takeover. The killed node is started again and the round waits for the bots to be shared out
before the next kill. Prints each takeover, then p50 and max, beside the lease.

What a takeover costs, by design (runner.cluster.coordinator): the rest of the dead node's lease
(up to `lease_secs`), the survivor's next round (up to a third of it), then the bot's rebuild
from PostgreSQL. The figures depend on the machine and its load; printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402

from runner.control.client import ControlClientError  # noqa: E402
from tests.cluster.nodes import ClusterNodes  # noqa: E402
from tests.cluster.servers import start_postgres, start_redis  # noqa: E402

SIM = """\
id: {bot_id}
mode: sim
symbol: BTC/USDT
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: {seed}, bars: 1000000}}
speed: 60
strategy: {{name: sma_cross, params: {{fast: 3, slow: 8}}}}
"""
BOTS = {f"sim-{i}": SIM.format(bot_id=f"sim-{i}", seed=i) for i in (1, 2)}


async def owner(nodes: ClusterNodes, asked: str, bot_id: str) -> tuple[str | None, str]:
    try:
        row = (await nodes.rows(asked))[bot_id]
    except ControlClientError:
        return None, "unreachable"
    return (row.cluster or {}).get("node"), row.state


async def shared_out(nodes: ClusterNodes, names: list[str]) -> dict[str, str]:
    """Wait until every bot runs and each node holds one at most; bot -> node."""
    while True:
        try:
            rows = await nodes.rows(names[0])
        except ControlClientError:
            rows = {}
        placed = {b: (r.cluster or {}).get("node") for b, r in rows.items() if r.state == "running"}
        if len(placed) == len(BOTS) and None not in placed.values() and len(set(placed.values())) == len(BOTS):
            return placed
        await asyncio.sleep(0.1)


async def main(kills: int, lease_secs: float, node_count: int) -> None:
    postgres, redis = start_postgres(), start_redis()
    root = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    connection = await asyncpg.connect(postgres.url("postgres"))
    await connection.execute("CREATE DATABASE bench")
    await connection.close()
    nodes = ClusterNodes(root, redis.url, postgres.url("bench"), bots=BOTS, lease_secs=lease_secs)
    names = [f"node-{chr(ord('a') + i)}" for i in range(node_count)]
    takeovers: list[float] = []
    try:
        for name in names:
            nodes.start(name)
        for round_ in range(1, kills + 1):
            placed = await shared_out(nodes, names)
            victim = placed["sim-1"]
            witness = next(n for n in names if n != victim)
            killed_at = time.monotonic()
            nodes.signal(victim, signal.SIGKILL)
            while True:
                node, state = await owner(nodes, witness, "sim-1")
                if node not in (None, victim) and state == "running":
                    break
                await asyncio.sleep(0.01)
            takeovers.append(time.monotonic() - killed_at)
            print(f"kill {round_:>2}: {victim} killed, sim-1 running on {node} after {takeovers[-1]:.2f} s", flush=True)
            nodes.start(victim)
    finally:
        await nodes.stop_all()
        postgres.stop()
        redis.stop()
    print(f"\ntakeover after SIGKILL, lease {lease_secs:g} s (renewed every {lease_secs / 3:.2f} s), {node_count} nodes, "
          f"{kills} kills: p50 {statistics.median(takeovers):.2f} s, max {max(takeovers):.2f} s, "
          f"min {min(takeovers):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--lease-secs", type=float, default=2.0)
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.kills, args.lease_secs, args.nodes))
