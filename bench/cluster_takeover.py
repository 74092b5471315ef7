"""Takeover time after a cluster node's death: SIGKILL the node running a bot, time until the
bot runs again on another node.

    python bench/cluster_takeover.py [--kills 20] [--lease-secs 2] [--nodes 2]

Starts a throwaway Redis and PostgreSQL on 127.0.0.1 (bench.cluster_setup) and `--nodes`
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_setup import node_names, paced_sim_bots, throwaway_cluster  # noqa: E402
from runner.control.client import ControlClientError  # noqa: E402
from tests.cluster.nodes import ClusterNodes  # noqa: E402

BOTS = paced_sim_bots(2, bars=1000000)


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
    names = node_names(node_count)
    takeovers: list[float] = []
    async with throwaway_cluster(BOTS, lease_secs=lease_secs, prefix="cluster-bench-") as nodes:
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
