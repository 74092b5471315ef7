"""The fair share and move requests at one round (`runner.cluster.balance.plan_round`)."""

from __future__ import annotations

from runner.cluster.balance import plan_round
from runner.cluster.leases import LeaseView

NODES = ["node-a", "node-b", "node-c"]


def leases(**owners: str | None) -> dict[str, LeaseView | None]:
    return {bot: LeaseView(bot, node, 1, 1000) if node else None for bot, node in owners.items()}


def test_a_node_takes_free_bots_up_to_the_share_rounded_up():
    views = leases(b1=None, b2=None, b3=None, b4=None, b5=None, b6=None, b7=None)
    plan = plan_round("node-a", views, NODES, {}, {}, set())
    assert [bot for bot, _ in plan.take] == ["b1", "b2", "b3"] and not plan.hand_over      # 7 over 3: 3


def test_a_node_over_its_share_hands_one_over_only_while_another_holds_fewer_than_the_share():
    views = leases(b1="node-a", b2="node-a", b3="node-a", b4="node-a", b5="node-b", b6="node-b")
    held = dict.fromkeys(["b1", "b2", "b3", "b4"], False)
    plan = plan_round("node-a", views, NODES, {}, held, set())
    assert plan.hand_over == [("b4", "balancing: 4 bots here, fair share 2")]              # node-c holds none
    views = leases(b1="node-a", b2="node-a", b3="node-a", b4="node-b", b5="node-b", b6="node-c", b7="node-c")
    assert not plan_round("node-a", views, NODES, {}, dict.fromkeys(["b1", "b2", "b3"], False), set()).hand_over


def test_a_bot_moved_on_request_is_handed_to_that_node_only_and_kept_there():
    views = leases(b1="node-a", b2=None, b3="node-b")
    plan = plan_round("node-a", views, NODES, {"b1": "node-c", "b2": "node-c"}, {"b1": False}, set())
    assert plan.hand_over == [("b1", "moved to node-c on request")] and plan.take == []    # b2 left for node-c
    plan = plan_round("node-c", leases(b1=None, b2=None, b3="node-b"), NODES, {"b1": "node-c", "b2": "node-c"},
                      {}, set())
    assert plan.take == [("b1", True), ("b2", True)]
    # Over its share now, node-c hands back what it was not asked to run, not the moved bots.
    views = leases(b1="node-c", b2="node-c", b3="node-c", b4="node-a")
    plan = plan_round("node-c", views, NODES, {}, dict.fromkeys(["b1", "b2", "b3"], False), {"b1", "b2"})
    assert plan.hand_over == [("b3", "balancing: 3 bots here, fair share 2")]


def test_a_request_naming_a_node_that_left_is_ignored():
    plan = plan_round("node-a", leases(b1=None), ["node-a"], {"b1": "node-x"}, {}, set())
    assert plan.take == [("b1", False)]
