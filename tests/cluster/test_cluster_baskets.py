"""A basket in cluster mode is one unit of ownership: `ClusterCoordinator` nodes in one process
against a real redis-server, with plain bots and a basket of three legs. The legs are taken,
taken over, moved and stopped together, each leg's fence raised to the basket's token; a leg
alone cannot be moved. (The doubles are test_coordinator.py's; the real daemons, with the
basket's cash, are in test_cluster_daemons.py.)
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from runner.cluster.config import LeaseTimings
from runner.cluster.control import ClusterControl
from runner.cluster.coordinator import ClusterCoordinator
from runner.cluster.events import ClusterEvents
from runner.cluster.kill_switch import GlobalKillSwitch
from runner.cluster.leases import LeaseStore
from runner.cluster.nodes import NodeRegistry
from runner.control.errors import BotStateError
from tests.cluster.test_coordinator import LEASE_SECS, Fences, RecordingBots, _flushed
from tests.fakes import eventually

LEGS = ["trio.btc-usdt", "trio.eth-usdt", "trio.sol-usdt"]
PLAIN = [f"bot-{i}" for i in range(4)]
BASKETS = dict.fromkeys(LEGS, "trio")


@pytest.fixture
async def nodes(redis_url, redis_key_prefix):
    """`await nodes(name)`: a coordinator of the plain bots and the basket, and its ClusterControl.
    A watcher fails the test if two nodes ever run legs of the basket at once."""
    clients, tasks, log, fences, split = [], {}, [], Fences(), []
    prefix = redis_key_prefix.rstrip(":")
    made: list[ClusterCoordinator] = []

    async def node(name: str) -> tuple[ClusterCoordinator, ClusterControl]:
        client = Redis.from_url(redis_url)
        clients.append(client)
        timings = LeaseTimings(LEASE_SECS)
        registry, kill_switch = NodeRegistry(client, prefix, name, timings.lease_ms), GlobalKillSwitch(client, prefix, name)
        coordinator = ClusterCoordinator(
            bots=RecordingBots(name, log, [*PLAIN, *LEGS]), bot_ids=[*PLAIN, *LEGS], baskets=BASKETS,
            leases=LeaseStore(client, prefix, name, timings.lease_ms), nodes=registry, kill_switch=kill_switch,
            fencing=fences, timings=timings, events=ClusterEvents(client, prefix, name, timings.lease_ms),
            flush_snapshot=_flushed(log, name))
        made.append(coordinator)
        tasks[name] = asyncio.create_task(coordinator.run())
        return coordinator, ClusterControl(coordinator._bots, coordinator, registry, kill_switch)

    async def watch() -> None:
        while True:
            running = {c.node for c in made if not tasks[c.node].done() and set(LEGS) & set(c._bots.running)}
            if len(running) > 1:
                split.append(sorted(running))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    node.log, node.fences, node.tasks = log, fences, tasks
    yield node
    watcher.cancel()
    for task in [*tasks.values(), watcher]:
        task.cancel()
    async with asyncio.timeout(15):
        await asyncio.gather(watcher, *tasks.values(), return_exceptions=True)
    for client in clients:
        await client.aclose()
    assert not split, f"the basket's legs ran on two nodes at once: {split[:3]}"


def basket_node(*coordinators: ClusterCoordinator) -> ClusterCoordinator | None:
    """The node running every leg of the basket (None while no node runs them all)."""
    return next((c for c in coordinators if set(LEGS) <= set(c._bots.running)), None)


async def test_a_baskets_legs_run_on_one_node_and_a_dead_nodes_basket_is_taken_over_whole(nodes):
    coordinators = [(await nodes(name))[0] for name in ("node-a", "node-b", "node-c")]
    # Until every node has seen the others (a node whose first round sees fewer takes more, then
    # hands over), every unit may be held while the counts are still uneven: wait for the share.
    await eventually(lambda: sorted(u for c in coordinators for u in c.held) == sorted([*PLAIN, "trio"])
                     and basket_node(*coordinators) is not None
                     and sorted(len(c.held) for c in coordinators) == [1, 2, 2], timeout_secs=15, poll_secs=0.05)
    assert sorted(len(c.held) for c in coordinators) == [1, 2, 2]          # units: the basket counts one
    owner = basket_node(*coordinators)
    token = owner.held["trio"].lease.token
    assert {leg: nodes.fences.tokens[leg] for leg in LEGS} == dict.fromkeys(LEGS, token)
    # Each leg's row is the basket's lease. Its seconds left are read off the clock a moment
    # after the basket's (no renewal can come between: no await), so never more than them.
    basket_row, leg_rows = owner.lease_row("trio"), [owner.lease_row(leg) for leg in LEGS]
    assert [(row["node"], row["token"]) for row in leg_rows] == [(owner.node, token)] * len(LEGS)
    assert basket_row["token"] == token and all(
        row["expires_in_secs"] <= basket_row["expires_in_secs"] for row in leg_rows)

    nodes.tasks[owner.node].cancel()           # gone without a word: no release, no more renewals
    others = [c for c in coordinators if c is not owner]
    await eventually(lambda: basket_node(*others) is not None, timeout_secs=15, poll_secs=0.05)
    taker = basket_node(*others)
    lease = taker.held["trio"].lease
    assert lease.token == token + 1 and lease.taken_from == owner.node
    assert {leg: nodes.fences.tokens[leg] for leg in LEGS} == dict.fromkeys(LEGS, token + 1)
    assert not set(LEGS) & set(next(c for c in others if c is not taker)._bots.running)
    taken = [e[2] for e in nodes.log if e[0] == "take" and e[1] == taker.node and e[2] in LEGS]
    assert taken == LEGS                       # each leg once, in one go


async def test_a_basket_moved_on_request_stops_and_saves_every_leg_then_the_named_node_takes_them_all(nodes):
    (a, control), (b, _) = await nodes("node-a"), await nodes("node-b")
    # node-a answers the move from the leases as its last round saw them: wait for a round that saw the basket's.
    await eventually(lambda: basket_node(a, b) is not None and len(a.held) + len(b.held) == 5
                     and a.lease_row("trio") is not None, timeout_secs=15, poll_secs=0.05)
    source, target = (a, b) if basket_node(a, b) is a else (b, a)
    start = len(nodes.log)
    answer = await control.move("trio", target.node)
    assert answer["to"] == target.node and answer["from"] == source.node
    await eventually(lambda: basket_node(a, b) is target, timeout_secs=15, poll_secs=0.05)
    steps = [(e[0], e[1], e[2]) for e in nodes.log[start:] if e[2] in LEGS]
    stops = {leg for kind, node, leg in steps if kind == "stop" and node == source.node}
    flushes = [i for i, (kind, node, _) in enumerate(steps) if kind == "flush" and node == source.node]
    takes = [i for i, (kind, node, _) in enumerate(steps) if kind == "take" and node == target.node]
    assert stops == set(LEGS) and len(flushes) == len(takes) == 3
    assert max(flushes) < min(takes)           # every leg saved before any leg runs on the new node
    assert target.held["trio"].lease.taken_from is None


async def test_moving_a_leg_alone_is_refused_naming_its_basket(nodes):
    (a, control) = await nodes("node-a")
    await eventually(lambda: "trio" in a.held, timeout_secs=15, poll_secs=0.05)
    with pytest.raises(BotStateError, match=r"trio\.eth-usdt is a leg of basket trio.*botrunner move trio node-b"):
        await control.move("trio.eth-usdt", "node-b")
    assert await a._nodes.move_requests(["trio", "trio.eth-usdt"]) == {}


async def test_a_basket_moved_away_can_be_asked_back_before_the_nodes_next_round(nodes):
    (a, control), (b, _) = await nodes("node-a"), await nodes("node-b")
    await eventually(lambda: basket_node(a, b) is not None and a.lease_row("trio") is not None, timeout_secs=15,
                     poll_secs=0.05)
    if basket_node(a, b) is not a:                       # the basket to node-a first, then the test proper
        await control.move("trio", "node-a")
        await eventually(lambda: basket_node(a, b) is a, timeout_secs=15, poll_secs=0.05)
    await eventually(lambda: a.views.get("trio") is not None and a.views["trio"].node == "node-a", timeout_secs=15,
                     poll_secs=0.05)
    seen_before = a.views["trio"]                        # node-a's round: the basket here
    await control.move("trio", "node-b")
    await eventually(lambda: basket_node(a, b) is b and "trio" not in a.held, timeout_secs=15, poll_secs=0.05)
    nodes.tasks["node-a"].cancel()                       # no round of node-a comes to refresh its view
    await asyncio.gather(nodes.tasks["node-a"], return_exceptions=True)
    a.views["trio"] = seen_before                        # as node-a's last round saw it, before the hand-over

    answer = await control.move("trio", "node-a")        # was refused: "already runs on node node-a"
    assert (answer["to"], answer["from"]) == ("node-a", None)
    assert await a._nodes.move_requests(["trio"]) == {"trio": "node-a"}


async def test_a_baskets_id_is_acted_on_by_the_node_holding_it_and_elsewhere_refused_naming_that_node(nodes):
    (a, control_a), (b, control_b) = await nodes("node-a"), await nodes("node-b")
    await eventually(lambda: basket_node(a, b) is not None and None not in (a.lease_row("trio"), b.lease_row("trio")),
                     timeout_secs=15, poll_secs=0.05)
    (owner, here), (other, there) = ((a, control_a), (b, control_b)) if basket_node(a, b) is a else \
        ((b, control_b), (a, control_a))

    # Before: "no bot 'trio'" on every node, though a daemon alone stops, starts, kills and
    # resumes a basket by its id (every leg).
    for action, call in (("stop", lambda: there.stop("trio")), ("kill", lambda: there.kill("trio", "drill"))):
        with pytest.raises(BotStateError, match=f"^basket trio runs on node {owner.node}, not on {other.node}: "
                                                f"{action} it through that node's control socket"):
            await call()
    await here.kill("trio", "drill")
    assert owner._bots.kills_asked == [("trio", "drill")]          # the manager kills every leg by the id
