"""`ClusterCoordinator` nodes in one process against a real redis-server: sharing, takeover,
a node cut off from Redis, `move`, and the global kill switch.

The bots are a recording double of the daemon's manager (what the coordinator asks it to run,
stop, drop, kill and resume), and the fence a double with the database's rule (a claim only
raises it); the daemon processes with PostgreSQL are in test_cluster_daemons.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.asyncio import Redis

from runner.cluster.config import LeaseTimings
from runner.cluster.control import ClusterControl
from runner.cluster.coordinator import ClusterCoordinator
from runner.cluster.coordinator_balance import Held
from runner.cluster.events import ClusterEvents
from runner.cluster.kill_switch import GLOBAL_KILL_PREFIX, GlobalKillSwitch
from runner.cluster.leases import LeaseStore
from runner.cluster.nodes import NodeRegistry
from runner.control.errors import BotStateError, UnknownBot
from runner.control.status_table import format_outcome
from runner.state.journal import MemoryJournal
from tests.fakes import eventually, make_status

BOTS = [f"bot-{i}" for i in range(6)]
LEASE_SECS = 2.0


class RecordingBots:
    """The manager as the coordinator sees it; every call lands in the shared `log`."""

    def __init__(self, node: str, log: list[tuple], configured: list[str] = ()) -> None:
        self.node, self.log = node, log
        self.configured = set(configured)            # the bots of the folder, as the manager's slots
        self.running: dict[str, str] = {}            # bot -> kill reason ("" while not killed)
        self.pnl: dict[str, float] = {}              # bot -> its PnL on a capital of 1,000
        self.rows_delay_secs = 0.0                   # armed by a test: every round's status step this slow
        self.rows_served = 0
        self.busy: set[str] = set()                  # bots busy with a candle past their grace
        self.unbuilt: set[str] = set()               # bots whose runner is gone (failed): a row of no figures
        self.kills_asked: list[tuple[str, str]] = []
        # Armed by a test: a bot taken is built from its snapshot this long, shown unkilled
        # meanwhile (as BotManager's row of a starting bot), then killed as its snapshot says.
        self.build_secs = 0.0
        self.snapshot_kills: dict[str, str] = {}
        self.building: set[str] = set()

    def take(self, bot_id, journal, *, kill_reason=None):
        self.log.append(("take", self.node, bot_id, time.monotonic()))
        if not self.build_secs:
            self.running[bot_id] = kill_reason or ""
            return
        self.running[bot_id] = ""
        self.building.add(bot_id)
        asyncio.get_running_loop().call_later(self.build_secs, self._built, bot_id,
                                              self.snapshot_kills.get(bot_id) or kill_reason or "")

    def _built(self, bot_id, restored_kill):
        self.building.discard(bot_id)
        self.running[bot_id] = restored_kill

    async def stop(self, bot_id):
        self.log.append(("stop", self.node, bot_id, time.monotonic()))
        if self.running.pop(bot_id, None) is None:
            raise BotStateError(f"bot {bot_id} is not running")

    async def drop(self, bot_id):
        self.log.append(("drop", self.node, bot_id, time.monotonic()))
        self.running.pop(bot_id, None)

    async def kill(self, bot_id, reason):
        self.kills_asked.append((bot_id, reason))
        if bot_id in self.busy:                      # as BotManager.kill answers it: asked, not latched yet
            raise BotStateError(f"bot {bot_id} is not killed yet (it has been busy with a candle for 0.3s); "
                                f"its kill switch trips as soon as it can")
        self.running[bot_id] = self.running.get(bot_id) or reason

    def statuses(self):
        return [make_status(**row) for row in self._rows()]

    def status(self, bot_id):
        if bot_id not in self.configured:                # as BotManager: a basket's id is no bot's
            raise UnknownBot(f"no bot {bot_id!r}")
        return make_status(bot_id)

    async def resume(self, bot_id):
        self.running[bot_id] = ""

    async def status_rows(self):
        if self.rows_delay_secs:
            await asyncio.sleep(self.rows_delay_secs)
        self.rows_served += 1
        return [make_status(**row).model_dump(mode="json") for row in self._rows()]

    def _rows(self):
        """The fields of each running bot's status that the coordinator reads (the rest: make_status's)."""
        return [{"bot_id": bot_id, "state": "killed" if reason else "running", "kill_switch": bool(reason),
                 "kill_reason": reason, "bars": 0 if bot_id in self.unbuilt else 1,
                 "equity": 1000.0 if bot_id in self.unbuilt else 1000 + self.pnl.get(bot_id, 0.0),
                 "pnl": 0.0 if bot_id in self.unbuilt else self.pnl.get(bot_id, 0.0)}
                for bot_id, reason in sorted(self.running.items())]


class Fences:
    """The database's fencing rule: a claim raises a bot's fence, never lowers it nor claims its token twice."""

    def __init__(self) -> None:
        self.tokens: dict[str, int] = {}

    async def claim(self, bot_id, token):
        if self.tokens.get(bot_id, 0) >= token:
            return False
        self.tokens[bot_id] = token
        return True

    async def fence(self, bot_id):
        return self.tokens.get(bot_id, 0)

    def journal_for(self, bot_id, token):
        return MemoryJournal()


@pytest.fixture
async def cluster(redis_url, redis_key_prefix):
    """Make nodes with `await cluster(name)`; each runs until the test ends or it is `killed`."""
    clients, tasks, log, fences = [], {}, [], Fences()
    prefix = redis_key_prefix.rstrip(":")

    async def node(name: str, *, redis: Redis | None = None, bots: list[str] = BOTS,
                   kill_all_at_loss: float | None = None, run: bool = True) -> ClusterCoordinator:
        client = redis or Redis.from_url(redis_url)
        clients.append(client)
        timings = LeaseTimings(LEASE_SECS)
        coordinator = ClusterCoordinator(
            bots=RecordingBots(name, log), bot_ids=bots, leases=LeaseStore(client, prefix, name, timings.lease_ms),
            nodes=NodeRegistry(client, prefix, name, timings.lease_ms),
            kill_switch=GlobalKillSwitch(client, prefix, name), fencing=fences, timings=timings,
            events=ClusterEvents(client, prefix, name, timings.lease_ms), flush_snapshot=_flushed(log, name),
            kill_all_at_loss=kill_all_at_loss)
        if run:
            tasks[name] = asyncio.create_task(coordinator.run())
        return coordinator

    node.log, node.fences, node.tasks, node.prefix = log, fences, tasks, prefix
    yield node
    for task in tasks.values():
        task.cancel()
    async with asyncio.timeout(15):            # a coordinator that swallowed its cancel fails here, not hangs
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    for client in clients:
        await client.aclose()


def _flushed(log, name):
    async def flush(bot_id):
        log.append(("flush", name, bot_id, time.monotonic()))
    return flush


def owners(*nodes: ClusterCoordinator) -> dict[str, str]:
    return {bot_id: n.node for n in nodes for bot_id in n.held}


async def test_three_nodes_share_the_bots_evenly_and_take_a_dead_nodes_bots_over_with_higher_tokens(cluster):
    a, b, c = [await cluster(name) for name in ("node-a", "node-b", "node-c")]
    await eventually(lambda: sorted(owners(a, b, c)) == BOTS and all(len(n.held) == 2 for n in (a, b, c)),
                     timeout_secs=15, poll_secs=0.05)
    dead = dict(c.held)
    cluster.tasks["node-c"].cancel()            # gone without a word: no release, no more renewals
    await eventually(lambda: all(bot in a.held or bot in b.held for bot in dead), timeout_secs=15, poll_secs=0.05)
    for bot_id in dead:
        taker = a if bot_id in a.held else b
        lease = taker.held[bot_id].lease
        assert lease.token == dead[bot_id].lease.token + 1 and lease.taken_from == "node-c"
        assert cluster.fences.tokens[bot_id] == lease.token
    assert len(a.held) == len(b.held) == 3
    assert a.counters.takeovers + b.counters.takeovers == 2
    assert sorted(owners(a, b)) == BOTS


async def test_a_node_cut_off_from_redis_stops_its_bots_before_another_node_may_take_them(cluster, redis_url):
    proxy = await RedisProxy.start(redis_url)
    try:
        cut = await cluster("node-cut", redis=Redis.from_url(proxy.url, socket_timeout=5), bots=BOTS[:2])
        await eventually(lambda: len(cut.held) == 2, timeout_secs=10, poll_secs=0.05)
        proxy.stall()                                         # the network hangs: nothing comes back
        other = await cluster("node-other", bots=BOTS[:2])
        await eventually(lambda: len(other.held) == 2, timeout_secs=15, poll_secs=0.05)
    finally:
        await proxy.aclose()
    log = cluster.log
    dropped = {e[2]: e[3] for e in log if e[0] == "drop" and e[1] == "node-cut"}
    taken = {e[2]: e[3] for e in log if e[0] == "take" and e[1] == "node-other"}
    assert sorted(dropped) == sorted(taken) == BOTS[:2]
    assert all(dropped[bot] < taken[bot] for bot in BOTS[:2])        # stopped first, then taken
    assert not cut.held and cut.counters.leases_lost == 2


async def test_a_bot_moved_on_request_is_stopped_saved_and_released_then_taken_by_the_named_node(cluster):
    a = await cluster("node-a", bots=BOTS[:2])
    await eventually(lambda: len(a.held) == 2, timeout_secs=10, poll_secs=0.05)
    b = await cluster("node-b", bots=BOTS[:2])
    await eventually(lambda: len(a.held) == len(b.held) == 1, timeout_secs=10, poll_secs=0.05)   # balanced
    moved, stays = sorted(a.held)[0], sorted(b.held)[0]
    start = len(cluster.log)
    await a._nodes.request_move(moved, "node-b")
    # b now holds two, one over its share: it hands back the bot it was not asked to run.
    await eventually(lambda: moved in b.held and stays in a.held, timeout_secs=10, poll_secs=0.05)
    steps = [(e[0], e[1]) for e in cluster.log[start:] if e[2] == moved]
    assert steps == [("stop", "node-a"), ("flush", "node-a"), ("take", "node-b")]
    assert b.held[moved].lease.taken_from is None                     # handed over, not taken over
    assert await b._nodes.move_requests([moved]) == {}


async def test_the_global_kill_switch_kills_every_nodes_bots_and_the_bots_they_take_until_resumed(cluster):
    """...and a latch that vanishes from Redis without `resume --all` resumes nothing."""
    a, b = await cluster("node-a", bots=BOTS[:4]), await cluster("node-b", bots=BOTS[:4])
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    await GlobalKillSwitch(a._leases._redis, cluster.prefix, "node-a").trip("exchange outage")
    killed = lambda n: n._bots.running and all(r.startswith(GLOBAL_KILL_PREFIX) for r in n._bots.running.values())
    await eventually(lambda: killed(a) and killed(b), timeout_secs=5, poll_secs=0.02)
    cluster.tasks["node-b"].cancel()                                 # its bots move to a, killed on start
    await eventually(lambda: len(a.held) == 4, timeout_secs=15, poll_secs=0.05)
    assert killed(a) and len(a._bots.running) == 4
    await a._leases._redis.delete(f"{cluster.prefix}:killall")      # the latch lost, not released
    await asyncio.sleep(3 * LEASE_SECS / 3)                            # rounds that read no latch
    assert killed(a) and len(a._bots.running) == 4
    await GlobalKillSwitch(a._leases._redis, cluster.prefix, "node-a").clear()
    await eventually(lambda: not any(a._bots.running.values()), timeout_secs=5, poll_secs=0.02)


async def test_a_bot_still_being_built_when_resume_all_runs_is_resumed_once_it_comes_back_killed(cluster):
    """A bot taken while the latch holds, whose snapshot holds the latch's kill, is still being
    built when `resume --all` releases the latch: it misses that resume, comes back killed from
    its snapshot, and the node's next round resumes it (the latch was released, not lost)."""
    a, b = await cluster("node-a", bots=BOTS[:4]), await cluster("node-b", bots=BOTS[:4])
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    switch = GlobalKillSwitch(a._leases._redis, cluster.prefix, "node-a")
    await switch.trip("exchange outage")
    killed = lambda n: n._bots.running and all(r.startswith(GLOBAL_KILL_PREFIX) for r in n._bots.running.values())
    await eventually(lambda: killed(a) and killed(b), timeout_secs=5, poll_secs=0.02)
    a._bots.build_secs = 1.0
    a._bots.snapshot_kills = dict(b._bots.running)              # each saved killed by the latch
    cluster.tasks["node-b"].cancel()
    await eventually(lambda: len(a.held) == 4, timeout_secs=15, poll_secs=0.01)
    assert len(a._bots.building) == 2
    await switch.clear()                                        # resume --all, while they are built
    await eventually(lambda: not a._bots.building, timeout_secs=5, poll_secs=0.02)
    await eventually(lambda: not any(a._bots.running.values()) and len(a._bots.running) == 4,
                     timeout_secs=5, poll_secs=0.02)


class ResumeAsTheManagerDoes(RecordingBots):
    """BotManager's resume: the latch cleared at once, the bot launched after its journal commit
    (an await); a bot not killed any more is refused, as BotManager refuses it."""

    def __init__(self, node, log):
        super().__init__(node, log)
        self.resumed: list[str] = []
        self.refused: list[str] = []

    async def resume(self, bot_id):
        if not self.running.get(bot_id):
            self.refused.append(bot_id)
            raise BotStateError(f"bot {bot_id} is not killed (it is killed); nothing to resume")
        self.running[bot_id] = ""
        await asyncio.sleep(0.05)                               # the resume's journal commit
        self.resumed.append(bot_id)


async def test_resume_all_answered_while_its_message_arrives_resumes_each_bot_once(cluster):
    """`resume --all` asked on a node releases the latch there (ClusterControl.resume_all) while
    the release's message reaches the same node's watch: both resume the bots the latch killed.
    Before, both went through the same list, the second refused on each bot the first had
    resumed ("bot b2 not resumed after resume --all: bot b2 is not killed (it is killed)"), and
    the answer showed bots still killed that the other path was resuming."""
    a = await cluster("node-a", bots=BOTS[:2])
    a._bots = ResumeAsTheManagerDoes("node-a", cluster.log)
    await eventually(lambda: len(a.held) == 2, timeout_secs=15, poll_secs=0.05)
    a._bots.running = {bot_id: "" for bot_id in a.held}
    switch = GlobalKillSwitch(a._leases._redis, cluster.prefix, "node-a")
    await a.apply_kill_latch(await switch.trip("exchange outage"))
    assert all(reason.startswith(GLOBAL_KILL_PREFIX) for reason in a._bots.running.values())
    await switch.clear()
    await asyncio.gather(a.apply_kill_latch(None), a.apply_kill_latch(None))    # the answer and the message
    assert sorted(a._bots.resumed) == sorted(a.held) and a._bots.refused == []
    assert not any(a._bots.running.values())


async def test_a_new_latch_forgets_the_release_before_it_so_only_its_own_release_resumes_its_kills(redis_url, redis_key_prefix):
    client = Redis.from_url(redis_url)
    try:
        switch = GlobalKillSwitch(client, redis_key_prefix.rstrip(":"), "node-a")
        assert not await switch.released_since(None)
        await switch.trip("first outage")
        await switch.clear()
        assert await switch.released_since(None)
        await switch.trip("second outage")
        await client.delete(f"{redis_key_prefix.rstrip(':')}:killall")    # lost, not released
        assert not await switch.released_since(None)
    finally:
        await client.aclose()


async def test_a_round_slower_than_the_lease_costs_its_node_no_lease_and_no_takeover(cluster):
    """The round (heartbeat, leases read, status rows, balancing) is not what keeps the leases:
    a status step as slow as the whole lease, round after round, and node-a keeps its bots and
    tokens, stays live, and node-b takes nothing (before, renewals waited for the round: node-a
    stopped its bots at 0.75 of the lease and node-b took them over)."""
    a, b = [await cluster(name, bots=BOTS[:4]) for name in ("node-a", "node-b")]
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    kept = {bot_id: held.lease for bot_id, held in a.held.items()}
    start, served = len(cluster.log), a._bots.rows_served
    a._bots.rows_delay_secs = LEASE_SECS
    # The round under way when armed may be a fast one: two more are slow ones, done.
    await eventually(lambda: a._bots.rows_served >= served + 3, timeout_secs=30, poll_secs=0.05)
    assert [e for e in cluster.log[start:] if e[0] != "flush"] == []     # nothing dropped, stopped or taken
    assert a.counters.leases_lost == 0 and b.counters.takeovers == 0
    assert {bot_id: held.lease for bot_id, held in a.held.items()} == kept
    views = await a._leases.views(sorted(kept))                        # as Redis holds them now
    assert {bot_id: (v.node, v.token) for bot_id, v in views.items()} == \
        {bot_id: ("node-a", lease.token) for bot_id, lease in kept.items()}
    assert "node-a" in await b._nodes.live()


async def test_a_renewal_answered_after_its_lease_was_replaced_leaves_the_new_lease_alone(cluster, redis_url):
    """Renewals run beside the rounds: one in flight while the bot was handed over and taken again
    under a new token answers "not ours" for the old lease, which stops nothing (before, the
    answer was applied by bot id and dropped the bot running on the new lease)."""
    proxy = await RedisProxy.start(redis_url)
    direct = Redis.from_url(redis_url)
    try:
        a = await cluster("node-a", redis=Redis.from_url(proxy.url), bots=BOTS[:1], run=False)
        leases = LeaseStore(direct, cluster.prefix, "node-a", a._leases.lease_ms)
        first = await leases.acquire(BOTS[0])
        a.held[BOTS[0]] = Held(first, time.monotonic())
        await a._leases._redis.ping()                  # connected: what the stall holds is the renewal
        proxy.stall()
        renewal = asyncio.create_task(a._renew(time.monotonic()))
        await eventually(lambda: proxy.held_chunks > 0, timeout_secs=5, poll_secs=0.01)
        assert await leases.release(first)             # handed over, and taken again by this node
        second = await leases.acquire(BOTS[0])
        a.held[BOTS[0]] = Held(second, time.monotonic())
        proxy.resume()
        await asyncio.wait_for(renewal, timeout=10)
    finally:
        await proxy.aclose()
        await direct.aclose()
    assert second.token == first.token + 1
    assert a.held[BOTS[0]].lease is second and a.counters.leases_lost == 0
    assert [e for e in cluster.log if e[0] == "drop"] == []


class RedisProxy:
    """A TCP relay to Redis that the test can stall: connections stay open, nothing passes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._stalled = asyncio.Event()
        self._flowing = asyncio.Event()
        self.held_chunks = 0                           # chunks held back since the stall
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.url = ""

    @classmethod
    async def start(cls, redis_url: str) -> RedisProxy:
        host, port = redis_url.split("//")[1].split("/")[0].split(":")
        proxy = cls((host, int(port)))
        proxy._server = await asyncio.start_server(proxy._relay, "127.0.0.1", 0)
        proxy.url = f"redis://127.0.0.1:{proxy._server.sockets[0].getsockname()[1]}/0"
        return proxy

    def stall(self) -> None:
        self._flowing.clear()
        self._stalled.set()

    def resume(self) -> None:
        """What the stall held goes on, in order; nothing is held any more."""
        self._stalled.clear()
        self._flowing.set()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)

    async def _pipe(self, source, sink) -> None:
        while data := await source.read(65536):
            if self._stalled.is_set():
                self.held_chunks += 1
                await self._flowing.wait()             # held until resumed: a partition, not a reset
            sink.write(data)
            await sink.drain()


async def test_the_cluster_loss_rule_pulls_the_global_kill_switch_once_the_bots_lost_its_share_together(cluster):
    a, b = [await cluster(name, bots=BOTS[:4], kill_all_at_loss=0.1) for name in ("node-a", "node-b")]
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    for node in (a, b):                              # whichever node runs a bot reports its PnL
        node._bots.pnl.update(dict.fromkeys(BOTS[:4], -75.0))      # 300 of 4,000 together: 7.5%, under 10%
    await asyncio.sleep(2 * LEASE_SECS)
    assert a.kill_latch is None and not any(b._bots.running.values())
    for node in (a, b):
        node._bots.pnl.update(dict.fromkeys(BOTS[:4], -125.0))     # 500 of 4,000: 12.5%
    # The nodes publish at their own rounds: the rule may trip on a mix of old and new rows.
    killed = lambda n: all(r.startswith(GLOBAL_KILL_PREFIX) and "kill_all_at_loss_pct is 10.0%" in r
                           for r in n._bots.running.values())
    await eventually(lambda: killed(a) and killed(b), timeout_secs=10, poll_secs=0.02)


async def test_kill_all_names_the_bots_whose_kill_is_pending_on_any_node_and_answers_once_none_is(cluster):
    """As the single daemon's kill --all: a bot busy past its grace is not killed yet; the answer
    (409) names it and its node, the others are killed, and the latch asked its kill."""
    a, b = await cluster("node-a", bots=BOTS[:4]), await cluster("node-b", bots=BOTS[:4])
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    busy_here, busy_there = sorted(a.held)[0], sorted(b.held)[0]
    a._bots.busy.add(busy_here)
    b._bots.busy.add(busy_there)
    control = ClusterControl(a._bots, a, a._nodes, a._kill_switch, stop_grace_secs=0.3)
    with pytest.raises(BotStateError) as refused:
        await control.kill_all("drill")
    message = str(refused.value)
    assert message.startswith("the global kill switch is latched (drill), but not every kill is: ")
    assert f"on node node-a: bot {busy_here} is not killed yet (it has been busy" in message
    assert f"on node node-b: bot {busy_there} is not killed yet (it has been busy" in message
    assert message.count("is not killed yet") == 2
    for node, busy in ((a, busy_here), (b, busy_there)):
        assert (busy, f"{GLOBAL_KILL_PREFIX} (node-a): drill") in node._bots.kills_asked
        assert all(reason.startswith(GLOBAL_KILL_PREFIX) for bot_id, reason in node._bots.running.items()
                   if bot_id != busy)
    b._bots.busy.clear()                                 # the busy bots are done with their candles
    a._bots.busy.clear()
    again = await control.kill_all("drill again")      # every kill latched: answered, nothing pending
    assert [(s.id, s.state) for s in again] == [(bot, "killed") for bot in BOTS[:4]]


async def test_kill_all_answers_with_every_nodes_bots_as_they_ended_killed_each_with_its_node(cluster):
    a, b = await cluster("node-a", bots=BOTS[:4]), await cluster("node-b", bots=BOTS[:4])
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    control = ClusterControl(a._bots, a, a._nodes, a._kill_switch, stop_grace_secs=0.3)

    answered = await control.kill_all("drill")

    # Before: node-a's two bots only, though node-b's two were killed too, as its answer said.
    assert [(s.id, s.state, s.cluster["node"]) for s in answered] == sorted(
        (bot, "killed", node.node) for node in (a, b) for bot in node.held)
    there = sorted(b.held)[0]
    assert format_outcome(next(s for s in answered if s.id == there)) == \
        f"{there}: killed on node-b (reason: {GLOBAL_KILL_PREFIX} (node-a): drill)"


async def test_the_cluster_loss_rule_counts_a_bot_stopped_at_a_loss_with_its_last_figures(cluster):
    """A bot that lost money then stopped is still down by it: stopped (no row any more, as after
    its node's death once the row expires) or failed (a row from no runner: the config's capital,
    PnL 0), it counts with the figures its owner last published. 250 stopped and 60 failed, then
    the two running lose 60 each: 430 of 4,000 is 10.75% (the rows alone: 120 of 3,000, 4%)."""
    a, b = [await cluster(name, bots=BOTS[:4], kill_all_at_loss=0.1) for name in ("node-a", "node-b")]
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    stopped, failed = sorted(a.held)
    for node in (a, b):
        node._bots.pnl.update({stopped: -250.0, failed: -60.0})      # 310 of 4,000: 7.75%
    figures = {}

    async def published():
        figures.update(await a._nodes.figures([stopped, failed]))
        return figures.get(stopped, {}).get("pnl") == -250.0 and figures.get(failed, {}).get("pnl") == -60.0

    async with asyncio.timeout(10):
        while not await published():
            await asyncio.sleep(0.05)
    await a._bots.stop(stopped)
    await a._nodes._redis.delete(f"{cluster.prefix}:status:{stopped}")     # its row gone, as when it expires
    a._bots.unbuilt.add(failed)
    assert a.kill_latch is None
    for node in (a, b):
        node._bots.pnl.update(dict.fromkeys(b.held, -60.0))
    killed = lambda n: all(r.startswith(GLOBAL_KILL_PREFIX) and "(-430.00 of 4,000.00)" in r
                           for r in n._bots.running.values())
    await eventually(lambda: killed(a) and killed(b) and b._bots.running, timeout_secs=10, poll_secs=0.02)


async def test_the_figures_of_a_bot_removed_from_every_nodes_config_are_deleted_and_count_no_more(cluster):
    """A bot that lost 5,000 and was then removed from the config of every node: its figures,
    published under the old config, are deleted at the nodes' next round (no live node lists
    it), and the loss rule never counts them; the figures of the bots listed stay."""
    a, b = [await cluster(name, bots=BOTS[:4], kill_all_at_loss=0.1) for name in ("node-a", "node-b")]
    await eventually(lambda: len(a.held) == len(b.held) == 2, timeout_secs=15, poll_secs=0.05)
    redis, key = a._nodes._redis, f"{cluster.prefix}:figures"
    await redis.hset(key, "bot-removed", json.dumps({"equity": -4_000.0, "pnl": -5_000.0}))

    async with asyncio.timeout(10):
        while await redis.hexists(key, "bot-removed"):
            await asyncio.sleep(0.05)
    assert sorted(await redis.hkeys(key)) == [b.encode() for b in BOTS[:4]]
    assert a.kill_latch is None and b.kill_latch is None


async def test_kill_all_names_a_node_on_older_code_at_once_instead_of_waiting_for_an_answer_it_never_writes(
        cluster, redis_url):
    """A rolling upgrade: node-old beats without the mark of a node that answers kill --all. The
    answer names it and the bot its lease holds, unconfirmed, instead of 'did not answer' after
    the wait; node-b, upgraded, answers and is not named."""
    old = Redis.from_url(redis_url)
    try:
        await old.set(f"{cluster.prefix}:node:node-old", json.dumps({"node": "node-old", "bots": 1, "ts_ms": 0}),
                      px=60_000)                           # the heartbeat of the code before the mark
        assert await LeaseStore(old, cluster.prefix, "node-old", 60_000).acquire(BOTS[3]) is not None
        a, b = await cluster("node-a", bots=BOTS[:4]), await cluster("node-b", bots=BOTS[:4])
        await eventually(lambda: len(a.held) + len(b.held) == 3 and getattr(a.views.get(BOTS[3]), "node", "") == "node-old",
                         timeout_secs=15, poll_secs=0.05)
        control = ClusterControl(a._bots, a, a._nodes, a._kill_switch, stop_grace_secs=0.3)
        with pytest.raises(BotStateError) as refused:
            await control.kill_all("drill")
        assert str(refused.value) == (
            "the global kill switch is latched (drill), but not every kill is: node node-old is running an older "
            f"version, which does not answer kill --all: its bots ({BOTS[3]}) are killed as it reads the latch, "
            "unconfirmed")
        for node in (a, b):
            assert node.held and all(reason.startswith(GLOBAL_KILL_PREFIX) for reason in node._bots.running.values())
    finally:
        await old.aclose()
