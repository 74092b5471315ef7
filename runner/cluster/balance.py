"""Which bots a node takes and hands over at one round: the fair share, and move requests.

A pure function of what the round read from Redis, so the rules read (and are tested) alone.
A "bot" here is a unit of ownership, as leased: a plain bot, or a basket with all its legs
(`runner.cluster.coordinator`). Every unit counts one, whatever its number of legs: a basket
is one strategy's decisions on one cash balance, and weighing it by legs would let one large
basket push every plain bot off its node for little gain.

- share: the bots over the live nodes; `ceiling` rounded up, `floor` rounded down;
- a free bot is taken while the node holds fewer than `ceiling` (a node asked to run it takes
  it whatever its count; the other nodes leave it free for that node);
- a bot held here that a request moves to another live node is handed over;
- one bot is handed over when the node holds more than `ceiling` while another live node holds
  fewer than `floor`: nobody hands over what nobody would take. A bot moved here on request
  (pinned) is handed over last, so balancing does not undo a person's move.

One bot handed over per round: the others see it free at their next round, and the counts
they act on stay close to true.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.cluster.leases import LeaseView

__all__ = ["Round", "plan_round"]


@dataclass(slots=True)
class Round:
    take: list[tuple[str, bool]] = field(default_factory=list)        # (bot, moved here on request)
    hand_over: list[tuple[str, str]] = field(default_factory=list)    # (bot, why)


def plan_round(node: str, views: Mapping[str, LeaseView | None], live_nodes: list[str], moves: Mapping[str, str],
               held: Mapping[str, bool], pinned: set[str]) -> Round:
    """`views`: every bot's lease (None: free); `moves`: bot -> node asked for; `held`: the bots
    this node holds -> whether each is being handed over already."""
    plan = Round()
    for bot_id, target in moves.items():
        if bot_id in held and target != node and target in live_nodes and not held[bot_id]:
            plan.hand_over.append((bot_id, f"moved to {target} on request"))
    live = len(live_nodes)
    ceiling, floor = math.ceil(len(views) / live), len(views) // live
    count = len(held)
    for bot_id, view in views.items():
        if view is not None or bot_id in held:
            continue
        target = moves.get(bot_id)
        if target is not None and target != node and target in live_nodes:
            continue                                      # kept free for the node it moves to
        if target == node or count < ceiling:
            plan.take.append((bot_id, target == node))
            count += 1
    counts = dict.fromkeys(live_nodes, 0)
    for view in views.values():
        if view is not None and view.node in counts:
            counts[view.node] += 1
    leaving = {bot_id for bot_id, _ in plan.hand_over}
    mine = [b for b, going in held.items() if not going and b not in leaving] + [b for b, _ in plan.take]
    if len(mine) > ceiling and any(n < floor for other, n in counts.items() if other != node):
        spare = [b for b in mine if b not in pinned and b in held] or [b for b in mine if b in held]
        if spare:
            plan.hand_over.append((spare[-1], f"balancing: {len(mine)} bots here, fair share {ceiling}"))
    return plan
