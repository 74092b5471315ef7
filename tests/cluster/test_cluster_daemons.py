"""Cluster mode for real: `botrunner run` nodes as processes sharing bots through a real Redis and
a real PostgreSQL on 127.0.0.1, paper and live bots trading on the Binance stand-in.

- A node SIGKILLed mid-run: its bots are taken over (higher fencing tokens), no client order id
  reaches the exchange twice, every exchange order is a journalled decision made once, every
  trade is journalled once, live positions are the exchange's, paper ledgers follow their fills,
  and sim bots end exactly where an uninterrupted backtest of them ends.
- Redis emptied under running bots (restarted without its data): the bots run again under tokens
  raised above their fences, trading on, no order sent twice.
- A node paused (SIGSTOP) past its lease, then woken: its bot was taken over and it is fenced
  out (it stops the bot; nothing of it lands).
- The global kill switch from one node kills the bots on all; they stay killed after every node
  restarts; `resume --all` releases them; `move` puts a bot on the node named.

Leases are 2 s. The stand-in follows the wall clock and replays one-second candles.
"""

from __future__ import annotations

import re
import signal

import pytest
import yaml

from execution.order_ids import order_id_prefix
from execution.standin import BinanceStandIn
from execution.standin.ledger import base_moved
from runner.backtest.run import run_backtest
from runner.cluster.postgres import PostgresJournal, PostgresSnapshotStore
from runner.config.bot import BotConfig
from runner.control.client import ControlRequestFailed
from tests.cluster.nodes import ClusterNodes
from tests.cluster.sim_bots import sim_bots
from tests.exchange_bot_files import exchange_bot_file
from tests.wall_clock_standin import wall_clock_standin

LEASE_SECS = 2

KEYS = {"api_key_env": "BR_CLUSTER_KEY", "secret_env": "BR_CLUSTER_SECRET"}


def live_bots(base_url: str, *ids: str) -> dict[str, str]:
    return {bot_id: exchange_bot_file(bot_id, "live", base_url, capital=2_000, on_restart="resume",
                                      exchange_extra={"stale_after_bars": 30, **KEYS}) for bot_id in ids}


def paper_bots(base_url: str, *ids: str) -> dict[str, str]:
    return {bot_id: exchange_bot_file(bot_id, "paper", base_url, capital=2_000, slow=5,
                                      exchange_extra={"stale_after_bars": 30, "account": "paper"}) for bot_id in ids}


def keyed(standin: BinanceStandIn) -> dict[str, str]:
    return {"I_UNDERSTAND_LIVE_TRADING": "true", "BR_CLUSTER_KEY": standin.api_key,
            "BR_CLUSTER_SECRET": standin.secret}


async def held_by(nodes: ClusterNodes, node: str, bots: list[str], *, state: str = "running"):
    """Every bot in `bots` is held by some node other than none and in `state`, as `node` shows
    it; the rows then, else None."""
    rows = await nodes.rows(node)
    if all(rows[b].cluster is not None and rows[b].state == state for b in bots):
        return rows
    return None


def stored(postgres_url: str, bot_ids: list[str]) -> tuple[dict, dict]:
    """Each bot's journal events and its last snapshot's state, read from PostgreSQL."""
    journal = PostgresJournal.open(postgres_url)
    try:
        snapshots = PostgresSnapshotStore(journal)
        return ({b: journal.events(b) for b in bot_ids}, {b: snapshots.read(b) for b in bot_ids})
    finally:
        journal.close()


def check_live_bot(bot_id: str, standin: BinanceStandIn, events: list, state: dict) -> None:
    """The exchange's records against the journal: no order twice, none outside the journal,
    every trade once, the position the exchange's."""
    prefix = order_id_prefix(bot_id)
    orders = [o for o in standin.orders if o.client_order_id.startswith(prefix)]
    trades = [t for t in standin.trades if t.order_id in {o.order_id for o in orders}]
    submissions = [n for cid, n in standin.order_submissions.items() if cid.startswith(prefix)]
    assert orders and max(submissions) == 1, f"{bot_id}: a client order id reached the exchange twice"
    decisions = [e.data for e in events if e.kind == "order"]
    assert sorted(o.client_order_id for o in orders) == sorted(d["order_id"] for d in decisions), bot_id
    decided_on = [(d["created_ts_ms"], d["side"]) for d in decisions]
    assert len(set(decided_on)) == len(decided_on), f"{bot_id}: a decision made twice: {decided_on}"
    assert sorted(e.key for e in events if e.kind == "fill") == sorted(str(t.id) for t in trades), bot_id
    assert abs(state["portfolio"]["quantity"] - base_moved(trades)) < 1e-9, bot_id


def check_paper_bot(bot_id: str, events: list, state: dict) -> None:
    """Each journalled fill moves the position from the one before it (none lost, none twice),
    and the bot's ledger ends at the last one."""
    fills = [e.data for e in events if e.kind == "fill"]
    assert fills, f"{bot_id}: no fills"
    position = 0.0
    for fill in fills:
        position += fill["quantity"] if fill["side"] == "buy" else -fill["quantity"]
        assert abs(position - fill["position"]) < 1e-9, f"{bot_id}: fill {fill} does not follow the one before"
    assert abs(state["portfolio"]["quantity"] - position) < 1e-9, bot_id


async def test_a_killed_nodes_bots_are_taken_over_and_every_ledger_ends_as_an_uninterrupted_run(
        tmp_path, redis_url, postgres_url):
    sims = sim_bots("sim-1", "sim-2", bars=240, speed=1200)          # 20 candles a second: 12 s each
    async with wall_clock_standin(900) as standin:
        bots = {**live_bots(standin.base_url, "live-1", "live-2"), **paper_bots(standin.base_url, "paper-1"), **sims}
        nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots=bots, lease_secs=LEASE_SECS, env=keyed(standin),
                             live=True)
        try:
            for node in ("node-a", "node-b", "node-c"):
                nodes.start(node)
            rows = await nodes.until(lambda n: held_by(n, "node-a", list(bots)), "every bot running on a node")
            victim = rows["live-1"].cluster["node"]
            survivor = next(n for n in ("node-a", "node-b", "node-c") if n != victim)
            await nodes.until(lambda n: _fills_at_least(n, survivor, "live-1", 2), "live-1 trading", node=survivor)
            before = {b: r.cluster for b, r in (await nodes.rows(survivor)).items()}
            nodes.signal(victim, signal.SIGKILL)

            def moved(rows):
                return all(r.cluster is not None and r.cluster["node"] != victim for r in rows.values()) and rows

            rows = await nodes.until(lambda n: _rows_if(n, survivor, moved), "the victim's bots taken over",
                                     node=survivor)
            for bot_id, lease in before.items():
                if lease["node"] == victim:
                    assert rows[bot_id].cluster["token"] > lease["token"]
            orders = len(standin.orders)
            await nodes.until(lambda n: _sims_finished_and(n, survivor, lambda: len(standin.orders) >= orders + 3),
                              "sims finished and the live bots trading on", node=survivor, timeout_secs=60)
        finally:
            await nodes.stop_all()
        events, states = stored(postgres_url, list(bots))
        for bot_id in ("live-1", "live-2"):
            check_live_bot(bot_id, standin, events[bot_id], states[bot_id])
    check_paper_bot("paper-1", events["paper-1"], states["paper-1"])
    assert any(e.kind == "cluster" and e.data["event"] == "takeover" and e.data["from"] == victim
               for bot_id in bots for e in events[bot_id])
    for bot_id in sims:                        # re-run from its snapshot on another node: as if never stopped
        uninterrupted = await run_backtest(BotConfig.model_validate(yaml.safe_load(sims[bot_id])))
        state, ledger = states[bot_id], states[bot_id]["portfolio"]
        assert state["state"] == "finished" and state["bars"] == uninterrupted.bars
        assert ledger["trade_count"] == len(uninterrupted.trades) > 0, bot_id
        assert ledger["fees_paid"] == pytest.approx(uninterrupted.fees, abs=1e-9)
        equity = ledger["cash"] + ledger["quantity"] * ledger["last_price"]
        assert equity == pytest.approx(uninterrupted.final_equity, abs=1e-6), bot_id


async def test_a_node_paused_past_its_lease_is_fenced_out_when_it_wakes(tmp_path, redis_url, postgres_url):
    async with wall_clock_standin(900) as standin:
        # One bot on two nodes: once the paused node is back, balancing gives it nothing back.
        bots = live_bots(standin.base_url, "live-1")
        nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots=bots, lease_secs=LEASE_SECS, env=keyed(standin),
                             live=True)
        try:
            for node in ("node-a", "node-b"):
                nodes.start(node)
            rows = await nodes.until(lambda n: held_by(n, "node-a", list(bots)), "the bot running")
            paused = rows["live-1"].cluster["node"]
            other = "node-b" if paused == "node-a" else "node-a"
            await nodes.until(lambda n: _fills_at_least(n, other, "live-1", 2), "live-1 trading", node=other)
            token = rows["live-1"].cluster["token"]
            nodes.signal(paused, signal.SIGSTOP)                 # frozen with the lease in its hands

            def taken(rows):
                lease = rows["live-1"].cluster
                return lease is not None and lease["node"] == other and rows["live-1"].state == "running"

            await nodes.until(lambda n: _rows_if(n, other, taken), "live-1 taken over while its node sleeps",
                              node=other)
            woke_at = len(nodes.log(paused))
            nodes.signal(paused, signal.SIGCONT)
            await nodes.until(lambda n: _async("stopping bot live-1 at once" in n.log(paused)[woke_at:]),
                              "the woken node stopping live-1", node=other)
            orders = len(standin.orders)
            await nodes.until(lambda n: _async(len(standin.orders) >= orders + 3), "live-1 trading on", node=other)
            rows = await nodes.rows(paused)
            assert rows["live-1"].cluster["node"] == other and rows["live-1"].cluster["token"] > token
        finally:
            await nodes.stop_all()
        woken = nodes.log(paused)[woke_at:]
        events, states = stored(postgres_url, ["live-1"])
        check_live_bot("live-1", standin, events["live-1"], states["live-1"])
    # Not one order line of live-1 from the woken node: it stopped the bot without sending.
    prefix = order_id_prefix("live-1")
    assert not [line for line in woken.splitlines() if f"Order {prefix}" in line and "->" in line], woken[-3000:]


async def test_the_global_kill_switch_reaches_every_node_survives_their_restart_and_move_places_a_bot(
        tmp_path, redis_url, postgres_url):
    bots = sim_bots("sim-1", "sim-2", "sim-3", bars=100_000, speed=120)     # two candles a second, for hours
    names = ("node-a", "node-b")           # two are enough: the switch is pulled on one, felt on the other
    nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots=bots, lease_secs=LEASE_SECS)
    try:
        for node in names:
            nodes.start(node)
        # Both nodes holding bots (balanced): the answer on node-b must list node-a's too.
        await nodes.until(lambda n: _rows_if(n, "node-a", lambda rows: all(
            r.cluster is not None and r.state == "running" for r in rows.values())
            and {r.cluster["node"] for r in rows.values()} == set(names)), "every bot running, on both nodes")
        killed = nodes.cli("node-b", "kill", "--all", "--reason", "drill")
        assert killed.returncode == 0, killed.stderr
        # Every node's bots, each with its node (before: node-b's alone, though all were killed).
        lines = sorted(killed.stdout.splitlines())
        assert [line.split(": ", 1)[0] for line in lines] == sorted(bots), killed.stdout
        assert all(": killed on node-" in line and "(reason: kill --all (node-b): drill)" in line for line in lines)
        assert {line.split(" on ", 1)[1].split()[0] for line in lines} == set(names), killed.stdout
        for node in names:                                   # every node shows every bot killed
            await nodes.until(lambda n: held_by(n, node, list(bots), state="killed"), f"all killed, on {node}")
        assert await nodes.stop_many(list(names)) == [0, 0]
        for node in names:
            nodes.start(node)
        rows = await nodes.until(lambda n: held_by(n, "node-a", list(bots), state="killed"),
                                 "every bot killed after every node restarted")
        assert all(r.kill_reason.startswith("kill --all (node-b): drill") for r in rows.values())
        await nodes.request("node-a", lambda c: c.resume_all())
        rows = await nodes.until(lambda n: held_by(n, "node-b", list(bots)), "every bot running again")
        bot_id = next(b for b, r in sorted(rows.items()) if r.cluster["node"] == "node-a")
        moved = nodes.cli("node-a", "move", bot_id, "node-b")
        assert moved.returncode == 0 and f"{bot_id}: node-a -> node-b" in moved.stdout, moved.stderr
        await nodes.until(lambda n: _rows_if(n, "node-a", lambda rows: rows[bot_id].cluster is not None
                                             and rows[bot_id].cluster["node"] == "node-b"
                                             and rows[bot_id].state == "running"), "the bot on node-b")
        one = await nodes.until(lambda n: _one_on(n, "node-a", bot_id, "node-b"), "one bot's status, from elsewhere")
        assert one.bars > 0 and one.started
        status = nodes.cli("node-a", "status")
        assert status.returncode == 0 and "NODE" in status.stdout and "node-b #" in status.stdout, status.stdout
        metrics = await nodes.request("node-b", lambda c: c.metrics())
        assert 'botrunner_cluster_leases_held{node="node-b"}' in metrics
        rounds = next(line for line in metrics.splitlines() if line.startswith("botrunner_cluster_rounds_total{"))
        assert int(rounds.rsplit(" ", 1)[1]) > 0, rounds      # the rounds go on beside the renewals
        assert 'botrunner_cluster_round_failures_total{node="node-b"} ' in metrics
        with pytest.raises(ControlRequestFailed, match="no live node 'node-x'; live nodes: node-a, node-b"):
            await nodes.request("node-a", lambda c: c.move(bot_id, "node-x"))
    finally:
        await nodes.stop_all()


async def test_redis_emptied_under_running_bots_gives_them_back_under_tokens_above_their_fences(
        tmp_path, redis_url, postgres_url):
    """Redis restarted without its data: every generation starts again at 1, below the fences in
    PostgreSQL. The nodes lose their leases, take the bots again under tokens raised above the
    fences, and the bots trade on: their journal writes are accepted, no order is sent twice."""
    from redis.asyncio import Redis

    async with wall_clock_standin(900) as standin:
        bots = {**live_bots(standin.base_url, "live-1"), **sim_bots("sim-1", bars=100_000, speed=600)}
        nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots=bots, lease_secs=LEASE_SECS, env=keyed(standin),
                             live=True)
        try:
            for node in ("node-a", "node-b"):
                nodes.start(node)
            rows = await nodes.until(lambda n: held_by(n, "node-a", list(bots)), "every bot running on a node")
            await nodes.until(lambda n: _fills_at_least(n, rows["live-1"].cluster["node"], "live-1", 1), "live-1 trading",
                              node=rows["live-1"].cluster["node"])
            await nodes.until(lambda n: _rows_if(n, "node-a", lambda rows: rows["sim-1"].orders > 0), "sim-1 trading")
            fences = {b: r.cluster["token"] for b, r in (await nodes.rows("node-a")).items()}
            redis = Redis.from_url(redis_url)
            try:
                await redis.flushall()
            finally:
                await redis.aclose()

            def back(rows):
                return all(r.cluster is not None and r.cluster["token"] > fences[b] and r.state == "running"
                           for b, r in rows.items()) and rows

            await nodes.until(lambda n: _rows_if(n, "node-a", back), "every bot running again above its fence",
                              timeout_secs=6 * LEASE_SECS + 20)
            orders, sim_orders = len(standin.orders), (await nodes.rows("node-a"))["sim-1"].orders
            await nodes.until(lambda n: _async(len(standin.orders) > orders), "live-1 trading on")
            await nodes.until(lambda n: _rows_if(n, "node-a", lambda rows: rows["sim-1"].orders > sim_orders),
                              "sim-1 trading on")
        finally:
            await nodes.stop_all()
        logs = nodes.log("node-a") + nodes.log("node-b")
        events, states = stored(postgres_url, list(bots))
        check_live_bot("live-1", standin, events["live-1"], states["live-1"])
    assert "Redis restarted without its data?); lease raised to token" in logs
    assert "its lease is gone from Redis (it ran out, or Redis lost its data)" in logs
    assert "left (its heartbeat expired" not in logs          # every heartbeat gone at once: nobody left
    # An owner that wrote before its renewal found the lease gone is refused (the fence at work);
    # every write under a token handed out since the flush is accepted.
    refused = re.findall(r"Journal writes of bot (\S+) refused: bot \S+: this node writes with fencing token (\d+)", logs)
    assert all(int(token) <= fences[bot_id] for bot_id, token in refused), refused
    decided_on = [(e.data["created_ts_ms"], e.data["side"]) for e in events["sim-1"] if e.kind == "order"]
    assert decided_on and len(set(decided_on)) == len(decided_on)


async def _async(value):
    return value


async def _rows_if(nodes: ClusterNodes, node: str, test):
    return test(await nodes.rows(node))


async def _fills_at_least(nodes: ClusterNodes, node: str, bot_id: str, fills: int):
    return (await nodes.rows(node))[bot_id].fills >= fills


async def _sims_finished_and(nodes: ClusterNodes, node: str, more):
    rows = await nodes.rows(node)
    return all(r.state == "finished" for b, r in rows.items() if b.startswith("sim-")) and more()


async def _one_on(nodes: ClusterNodes, asked: str, bot_id: str, node: str):
    """`botrunner status BOT` asked of `asked`: the bot as `node`, which runs it, published it."""
    status = await nodes.request(asked, lambda c: c.bot(bot_id))
    return status if status.cluster and status.cluster["node"] == node and status.state == "running" else None
