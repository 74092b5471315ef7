"""A basket on real cluster nodes (`botrunner run` processes, one Redis, one PostgreSQL): its legs
run on one node under one lease; that node SIGKILLed mid-run, another takes the basket over whole
and ends it where an uninterrupted basket backtest ends, its one cash balance rebuilt from the
legs' shares; `botrunner move` refuses a leg, naming the basket.
"""

from __future__ import annotations

import math
import signal

import pytest

from runner.basket.backtest import run_basket_backtest
from runner.config.basket import load_bot_or_basket
from runner.control.client import ControlRequestFailed
from tests.cluster.nodes import ClusterNodes
from tests.cluster.sim_bots import sim_bots
from tests.cluster.test_cluster_daemons import LEASE_SECS, stored
from tests.trio_basket import CAPITAL, LEGS, SYMBOLS, trio_basket

BASKET = trio_basket(speed=6000)          # 100 candles a second a leg


async def test_a_killed_nodes_basket_is_taken_over_whole_and_ends_with_the_one_cash_balance_of_an_uninterrupted_run(
        tmp_path, redis_url, postgres_url):
    bots = {"trio": BASKET, **sim_bots("sim-1", bars=100_000, speed=120)}
    nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots=bots, lease_secs=LEASE_SECS)
    expected = await run_basket_backtest(load_bot_or_basket_text(tmp_path, BASKET))
    try:
        for node in ("node-a", "node-b"):
            nodes.start(node)
        rows = await nodes.until(lambda n: _legs_running(n, "node-a", 8), "the basket's legs trading")
        leases = {rows[leg].cluster["node"] for leg in LEGS}, {rows[leg].cluster["token"] for leg in LEGS}
        assert all(len(seen) == 1 for seen in leases), leases           # one node, one lease
        victim, token = rows[LEGS[0]].cluster["node"], rows[LEGS[0]].cluster["token"]
        survivor = next(n for n in ("node-a", "node-b") if n != victim)
        with pytest.raises(ControlRequestFailed, match=f"bot {LEGS[1]} is a leg of basket trio"):
            await nodes.request(survivor, lambda c: c.move(LEGS[1], survivor))
        nodes.signal(victim, signal.SIGKILL)
        rows = await nodes.until(lambda n: _legs_finished_on(n, survivor), "the basket finished on the survivor",
                                 node=survivor, timeout_secs=60)
        assert {rows[leg].cluster["token"] for leg in LEGS} == {token + 1}
        basket = await nodes.request(survivor, lambda c: c.basket("trio"))       # the basket whole, where it runs
        assert basket.cash == pytest.approx(expected.cash, rel=1e-9)
        assert math.fsum(rows[leg].cash for leg in LEGS) == pytest.approx(basket.cash, rel=1e-9)   # shares add up
    finally:
        await nodes.stop_all()
    events, states = stored(postgres_url, LEGS)
    assert all(any(e.kind == "cluster" and e.data["event"] == "takeover" and e.data["from"] == victim
                   for e in events[leg]) for leg in LEGS)
    flows = []
    for symbol, leg in zip(SYMBOLS, LEGS):
        state, want = states[leg], expected.legs[symbol]
        portfolio = state["portfolio"]
        assert state["state"] == "finished" and state["bars"] == want["bars"]
        assert portfolio["fill_count"] == want["fills"], f"{leg}: a fill lost or doubled"
        assert portfolio["realized_pnl"] == pytest.approx(want["realized_pnl"], rel=1e-12)
        flows.append(portfolio["flow"])
    # One cash balance, rebuilt on the survivor from each leg's share: the uninterrupted basket's.
    assert CAPITAL + math.fsum(flows) == pytest.approx(expected.cash, rel=1e-9)
    # The leg that finished last saved the basket's last cash. Not found by journal_seq: in
    # PostgreSQL each leg numbers its own journal, so the highest is the busiest leg, which may
    # have finished first (9,295.33 for 7,793.83 seen, 2 runs in 51, three at once).
    assert any(states[leg]["portfolio"]["cash"] == pytest.approx(expected.cash, rel=1e-9) for leg in LEGS), \
        {leg: states[leg]["portfolio"]["cash"] for leg in LEGS}


def load_bot_or_basket_text(root, text: str):
    path = root / "trio-expected.yaml"
    path.write_text(text)
    return load_bot_or_basket(path)


async def _legs_running(nodes: ClusterNodes, node: str, fills: int):
    rows = await nodes.rows(node)
    legs = [rows[leg] for leg in LEGS]
    if all(r.cluster is not None and r.state == "running" for r in legs) and sum(r.fills for r in legs) >= fills:
        return rows
    return None


async def _legs_finished_on(nodes: ClusterNodes, node: str):
    rows = await nodes.rows(node)
    if all(rows[leg].state == "finished" and (rows[leg].cluster or {}).get("node") == node for leg in LEGS):
        return rows
    return None


async def test_a_basket_moved_away_and_back_ends_where_an_uninterrupted_run_ends(tmp_path, redis_url, postgres_url):
    nodes = ClusterNodes(tmp_path, redis_url, postgres_url, bots={"trio": BASKET}, lease_secs=LEASE_SECS)
    expected = await run_basket_backtest(load_bot_or_basket_text(tmp_path, BASKET))
    try:
        for node in ("node-a", "node-b"):
            nodes.start(node)
        rows = await nodes.until(lambda n: _legs_running(n, "node-a", 8), "the basket's legs trading")
        first = rows[LEGS[0]].cluster["node"]
        other = next(n for n in ("node-a", "node-b") if n != first)
        for target, fills in ((other, 40), (first, 80)):          # there and back, into the same process
            moved = nodes.cli(first, "move", "trio", target)
            assert moved.returncode == 0, moved.stderr
            await nodes.until(lambda n: _legs_on(n, target, fills), f"the basket trading on {target}", node=target)
        await nodes.until(lambda n: _legs_finished_on(n, first), "the basket finished", node=first, timeout_secs=60)
    finally:
        await nodes.stop_all()
    _, states = stored(postgres_url, LEGS)
    for symbol, leg in zip(SYMBOLS, LEGS):
        assert states[leg]["portfolio"]["fill_count"] == expected.legs[symbol]["fills"], f"{leg}: a fill lost or doubled"
    # The leg that finished last saved the basket's last cash (journal_seq is per leg: see above).
    assert any(states[leg]["portfolio"]["cash"] == pytest.approx(expected.cash, rel=1e-9) for leg in LEGS), \
        {leg: states[leg]["portfolio"]["cash"] for leg in LEGS}


async def _legs_on(nodes: ClusterNodes, node: str, fills: int):
    """Every leg on `node` with `fills` among them, running or already at the end of its candles:
    on a loaded machine a move can take long enough that the legs finish within a poll of it."""
    rows = await nodes.rows(node)
    legs = [rows[leg] for leg in LEGS]
    return all(r.state in ("running", "finished") and (r.cluster or {}).get("node") == node for r in legs) and \
        sum(r.fills for r in legs) >= fills
