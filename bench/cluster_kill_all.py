"""The cluster's global kill switch: time from `botrunner kill --all` on one node until every bot
on every node is killed, and from `resume --all` until all run again.

    python bench/cluster_kill_all.py [--trials 10] [--bots 30] [--nodes 3] [--lease-secs 6]
                                     [--timeout-secs 900]

Starts a throwaway Redis and PostgreSQL on 127.0.0.1 (bench.cluster_setup) and `--nodes`
`botrunner run` processes in cluster mode sharing `--bots` paced sim bots, and waits until every
bot runs and the nodes hold a fair share each. Each trial sends `kill --all` to one node (in
turn) through its control socket, as the CLI does, and meanwhile polls every node's own bots
(the rows it holds, read live from its manager, not the copies other nodes publish) over its
socket, all nodes at once, every 10 ms; a node is done at the first poll that shows all its
bots `killed`. The trial's figure is the last node's; each node's is printed too (the node asked
first, the others through Redis's channel). Then `resume --all` on the same node, timed the same
way until every bot shows `running` again. Resolution: one poll round (10 ms plus the nodes'
answers, which on a loaded machine are what dominates).

What a kill costs, by design (apply_kill_latch in runner.cluster.coordinator_status): the node
asked sets the latch and publishes it, then kills its own bots; the others get the message
within milliseconds and kill theirs, all at once, each kill cancelling the bot's orders and
flattening (a sim bot fills at once), and answer in Redis which kills are pending. The answer to
`kill --all` waits for every node's (`ClusterControl.kill_all`): its time is printed too. Figures depend on the machine and its load; printed, never
asserted. The whole run is bounded by `--timeout-secs`; servers and nodes are stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_setup import node_names, paced_sim_bots, throwaway_cluster  # noqa: E402
from runner.control.client import ControlClientError  # noqa: E402
from tests.cluster.nodes import ClusterNodes  # noqa: E402

POLL_SECS = 0.01


async def own_rows(nodes: ClusterNodes, node: str) -> dict[str, Any] | None:
    """The status rows of the bots `node` runs itself, by id; None when it does not answer."""
    try:
        rows = await nodes.rows(node)
    except ControlClientError:
        return None
    return {bot_id: row for bot_id, row in rows.items() if (row.cluster or {}).get("node") == node}


async def every_row(nodes: ClusterNodes, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each node's own rows (empty for a node that does not answer), by node."""
    return dict(zip(names, [rows or {} for rows in await asyncio.gather(*(own_rows(nodes, n) for n in names))]))


async def shared_out(nodes: ClusterNodes, names: list[str], bot_count: int) -> dict[str, int]:
    """Wait until every bot runs and each node holds its fair share (floor or ceiling); node -> count."""
    floor, ceiling = bot_count // len(names), -(-bot_count // len(names))
    while True:
        rows = await every_row(nodes, names)
        counts = {n: sum(r.state == "running" for r in rows[n].values()) for n in names}
        if sum(counts.values()) == bot_count and all(floor <= c <= ceiling for c in counts.values()):
            return counts
        await asyncio.sleep(0.2)


async def moved_on(nodes: ClusterNodes, names: list[str], bars: dict[str, int]) -> None:
    """Wait until every bot runs and has read a candle since `bars` (its count at the last kill).
    A kill --all before a resumed bot's next candle has its journal key ("kill", candles read)
    taken by the previous kill, and with another node's name in its reason the journal refuses
    it (JournalConflict): the bench measures kills, so it lets each bot read a candle first."""
    while True:
        rows = {b: r for node_rows in (await every_row(nodes, names)).values() for b, r in node_rows.items()}
        if len(rows) == len(bars) and all(r.state == "running" and r.bars > bars[b] for b, r in rows.items()):
            return
        await asyncio.sleep(0.1)


async def until_all(nodes: ClusterNodes, names: list[str], state: str, started: float, held: dict[str, int],
                    request: asyncio.Task) -> tuple[dict[str, float], dict[str, int]]:
    """Poll every node at once until each shows all `held[node]` of its bots in `state`; seconds
    from `started` to the first poll that showed it, by node, and each bot's candle count then.
    Raises the request's error as soon as it fails (the bots would never get there)."""
    done: dict[str, float] = {}
    bars: dict[str, int] = {}
    while len(done) < len(names):
        if request.done() and request.exception() is not None:
            raise request.exception()
        waiting = [n for n in names if n not in done]
        answers = await asyncio.gather(*(own_rows(nodes, n) for n in waiting))
        seen = time.monotonic() - started
        for node, rows in zip(waiting, answers):
            if rows is not None and len(rows) == held[node] and all(r.state == state for r in rows.values()):
                done[node] = seen
                bars.update((b, r.bars) for b, r in rows.items())
        await asyncio.sleep(POLL_SECS)
    return done, bars


async def trial(nodes: ClusterNodes, names: list[str], asked: str, held: dict[str, int],
                answered: list[float]) -> tuple[dict[str, float], dict[str, float]]:
    """One kill --all and one resume --all, both sent to `asked`; per-node seconds for each, and
    the seconds kill --all took to answer appended to `answered`."""
    started = time.monotonic()
    request = asyncio.create_task(nodes.request(asked, lambda c: c.kill_all("bench: kill --all")))
    request.add_done_callback(lambda _: answered.append(time.monotonic() - started))
    killed, bars = await until_all(nodes, names, "killed", started, held, request)
    await request
    started = time.monotonic()
    request = asyncio.create_task(nodes.request(asked, lambda c: c.resume_all()))
    resumed, _ = await until_all(nodes, names, "running", started, held, request)
    await request
    await moved_on(nodes, names, bars)
    return killed, resumed


def summary(what: str, figures: list[float]) -> str:
    return f"{what}: p50 {statistics.median(figures) * 1000:.0f} ms, max {max(figures) * 1000:.0f} ms"


async def main(trials: int, bot_count: int, node_count: int, lease_secs: float) -> None:
    names = node_names(node_count)
    bots = paced_sim_bots(bot_count, bars=20000)
    async with throwaway_cluster(bots, lease_secs=lease_secs, prefix="cluster-kill-bench-") as nodes:
        for name in names:
            nodes.start(name)
        held = await shared_out(nodes, names, bot_count)
        print(f"{bot_count} paced sim bots running on {node_count} nodes: "
              + ", ".join(f"{n} {c}" for n, c in held.items()), flush=True)
        rounds = []
        for _ in range(10):                     # the figures' resolution: one poll of every node
            polled = time.monotonic()
            await every_row(nodes, names)
            rounds.append(time.monotonic() - polled)
        print(f"one poll of every node (the resolution): p50 {statistics.median(rounds) * 1000:.0f} ms", flush=True)
        last_kill, last_resume, answered = [], [], []
        per_node: dict[str, list[float]] = {n: [] for n in names}
        for number in range(1, trials + 1):
            asked = names[(number - 1) % len(names)]
            killed, resumed = await trial(nodes, names, asked, held, answered)
            last_kill.append(max(killed.values()))
            last_resume.append(max(resumed.values()))
            for node, secs in killed.items():
                per_node[node].append(secs)
            print(f"trial {number:>2}: kill --all on {asked}: all killed after {last_kill[-1] * 1000:.0f} ms ("
                  + ", ".join(f"{n} {killed[n] * 1000:.0f}" for n in names)
                  + f"); answered after {answered[-1] * 1000:.0f} ms; resume --all: all running after "
                  f"{last_resume[-1] * 1000:.0f} ms", flush=True)
    print(f"\n{trials} trials, {bot_count} bots on {node_count} nodes")
    print(summary("kill --all to the last bot killed", last_kill))
    for node, figures in per_node.items():
        print(summary(f"  {node}'s bots all killed", figures))
    print(summary("kill --all answered (every node's answer in)", answered))
    print(summary("resume --all to the last bot running", last_resume))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--bots", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--lease-secs", type=float, default=6.0)
    parser.add_argument("--timeout-secs", type=float, default=900.0,
                        help="the whole run stops (and cleans up) after this long")
    args = parser.parse_args()

    async def bounded() -> None:
        async with asyncio.timeout(args.timeout_secs):
            await main(args.trials, args.bots, args.nodes, args.lease_secs)

    try:
        asyncio.run(bounded())
    except TimeoutError:
        sys.exit(f"cluster_kill_all: not done within {args.timeout_secs:g} s; servers and nodes stopped")
