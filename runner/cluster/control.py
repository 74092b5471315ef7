"""`ClusterControl`: the control API's view of a cluster node (what `BotControl` asks for).

It wraps the node's `BotManager`, which has a slot for every bot of the shared folder but runs
only those this node holds leases of:

- status lists every bot: the ones held here from the manager, the others as their owner last
  published them in Redis; each row has `cluster` (node, token, seconds left of the lease);
- actions on a bot (start, stop, kill, resume, trigger, promote, demote) are done by the node
  running it; asked here, they are refused with the node to ask instead;
- `kill_all` trips the global kill switch (every bot on every node) and names the kills still
  pending on any node, or else answers with every node's bots it killed; `resume_all` releases it,
  `move` asks for a bot to run on another node;
- `/metrics` shows this node's bots and its lease figures.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runner.basket.status import BasketStatus
from runner.cluster.coordinator import REDIS_ERRORS, ClusterCoordinator
from runner.cluster.kill_switch import GlobalKillSwitch, KillAnswer
from runner.cluster.leases import REDIS_TIMEOUT_SECS, LeaseView
from runner.cluster.nodes import MOVE_REQUEST_SECS, NodeRegistry
from runner.control.errors import BotStateError
from runner.control.governance_status import GovernanceStatus
from runner.control.live_feed import BotSample
from runner.control.status import BotStatus, ReloadResult
from runner.daemon.manager import BotManager

__all__ = ["ClusterControl"]


class ClusterControl:
    def __init__(self, manager: BotManager, coordinator: ClusterCoordinator, nodes: NodeRegistry,
                 kill_switch: GlobalKillSwitch, *, stop_grace_secs: float = 10.0) -> None:
        self._manager = manager
        self._stop_grace_secs = stop_grace_secs
        self._coordinator = coordinator
        self._nodes = nodes
        self._kill_switch = kill_switch

    @property
    def node(self) -> str:
        return self._coordinator.node

    # -- status ---------------------------------------------------------------------------------

    def statuses(self) -> list[BotStatus]:
        """The bots held here or run here since the daemon started (its summary at exit, when
        the leases are given back already)."""
        return [s for s in self._manager.statuses() if self._coordinator.holds(s.id) or s.started]

    async def local_status_rows(self) -> list[dict[str, Any]]:
        """This node's bots only, with their leases: what its /metrics shows."""
        rows = [row for row in await self._manager.status_rows() if self._coordinator.holds(row["id"])]
        for row in rows:
            row["cluster"] = self._coordinator.lease_row(row["id"])
        return rows

    async def status_rows(self) -> list[dict[str, Any]]:
        """Every bot of the cluster, sorted by id: see the module docstring."""
        rows = await self._manager.status_rows()
        holds = self._coordinator.holds
        try:
            published = await self._nodes.rows([row["id"] for row in rows if not holds(row["id"])])
        except REDIS_ERRORS:            # Redis out of reach: this node's own bots are still known
            published = {}
        merged = []
        for row in rows:
            bot_id = row["id"]
            lease = self._coordinator.lease_row(bot_id)
            if not holds(bot_id):
                remote = published.get(bot_id)
                if remote is not None and lease is not None and (remote.get("cluster") or {}).get("node") == lease["node"]:
                    row = remote
                else:                   # nobody runs it yet, or its new owner is still building it
                    row = {**row, "state": "starting" if lease is not None else "unowned", "started": False}
            merged.append({**row, "cluster": lease})
        return merged

    def bot_count(self) -> int:
        return self._manager.bot_count()

    def dashboard_samples(self) -> list[BotSample]:
        return [s for s in self._manager.dashboard_samples() if self._coordinator.holds(s.row[0])]

    def status(self, bot_id: str) -> BotStatus:
        """One bot as `status_rows` shows it, another node's from its last round's rows."""
        status = self._manager.status(bot_id)          # UnknownBot for an id of no bot
        lease = self._coordinator.lease_row(bot_id)
        if not self._coordinator.holds(bot_id):
            remote = self._coordinator.published.get(bot_id)
            if remote is not None and lease is not None and (remote.get("cluster") or {}).get("node") == lease["node"]:
                status = BotStatus.model_validate(remote)
            else:
                status = status.model_copy(update={"state": "starting" if lease is not None else "unowned",
                                                   "started": False})
        return status.model_copy(update={"cluster": lease})

    # -- actions on one bot: where it runs ----------------------------------------------------

    def _here(self, bot_id: str, action: str) -> None:
        # A basket's id is leased (a unit) but no bot's: the manager acts on every leg by it.
        basket = bot_id in self._coordinator.units and bot_id not in self._coordinator.units[bot_id]
        if not basket:
            self._manager.status(bot_id)                 # UnknownBot first
        if self._coordinator.holds(bot_id):
            return
        lease, what = self._coordinator.lease_row(bot_id), "basket" if basket else "bot"
        if lease is None:
            raise BotStateError(f"{what} {bot_id} runs on no node right now (a node takes it within the lease "
                                f"time); ask again in a moment")
        raise BotStateError(f"{what} {bot_id} runs on node {lease['node']}, not on {self.node}: {action} it "
                            f"through that node's control socket (botrunner {action} {bot_id} --state-dir ...)")

    async def start(self, bot_id: str) -> BotStatus:
        self._here(bot_id, "start")
        return await self._manager.start(bot_id)

    async def stop(self, bot_id: str) -> BotStatus:
        self._here(bot_id, "stop")
        return await self._manager.stop(bot_id)

    async def kill(self, bot_id: str, reason: str) -> BotStatus:
        self._here(bot_id, "kill")
        return await self._manager.kill(bot_id, reason)

    async def resume(self, bot_id: str) -> BotStatus:
        self._here(bot_id, "resume")
        return await self._manager.resume(bot_id)

    async def trigger(self, bot_id: str) -> BotStatus:
        self._here(bot_id, "trigger")
        return await self._manager.trigger(bot_id)

    async def promote(self, bot_id: str) -> GovernanceStatus:
        self._here(bot_id, "promote")
        return await self._manager.promote(bot_id)

    async def demote(self, bot_id: str) -> GovernanceStatus:
        self._here(bot_id, "demote")
        return await self._manager.demote(bot_id)

    def basket(self, basket_id: str) -> BasketStatus:
        """The basket whole, from the node holding its lease (its legs run there only)."""
        self._manager.basket(basket_id)                  # UnknownBot for no basket's id
        if not self._coordinator.holds(basket_id):
            self._here(self._coordinator.units.get(basket_id, [basket_id])[0], "status")
        return self._manager.basket(basket_id)

    def governance(self, bot_id: str | None = None) -> list[GovernanceStatus]:
        return self._manager.governance(bot_id)

    async def reload(self) -> ReloadResult:
        raise BotStateError("reload is not available in cluster mode: every node reads the bot folder when it "
                            "starts; restart the nodes one at a time (their bots move to the others meanwhile)")

    # -- the whole cluster ----------------------------------------------------------------------

    async def kill_all(self, reason: str) -> list[BotStatus]:
        """Latch the global kill switch: every node kills its bots, and the answer waits for every
        live node's (up to `stop_grace_secs` and two Redis timeouts), then lists the bots killed on
        every node, each with its lease (`_killed_across`). As the single daemon's
        `kill --all`, BotStateError (409) names each bot whose kill is pending (busy past its
        grace: it trips when it can), with its node, and any node that did not answer. A node
        on older code, which never answers (its heartbeat lacks `answers_kill_all`), is not
        waited for: the refusal names it at once, its kills unconfirmed. With Redis out of
        reach this node's bots are killed all the same, and the answer says the other nodes
        were not reached."""
        try:
            latch, asked = await self._kill_switch.ask(reason)
        except REDIS_ERRORS as exc:
            # Killed one by one, not under the global latch: Redis, once back, holds no latch,
            # and the coordinator would read that as `resume --all`.
            units = list(self._coordinator.held)
            why = f"{reason} (kill --all while Redis was out of reach)"
            outcomes = await asyncio.gather(*(self._manager.kill(u, why) for u in units), return_exceptions=True)
            busy = "".join(f"; not killed yet: {o}" for o in outcomes if isinstance(o, Exception))
            raise BotStateError(f"this node's bots are killed, but Redis is out of reach ({type(exc).__name__}): "
                                f"the other nodes did not get the kill; run kill --all on each of them{busy}") from None
        pending = {self.node: await self._coordinator.apply_kill_latch(latch)}
        try:
            heartbeats = await self._nodes.heartbeats()
        except REDIS_ERRORS:
            heartbeats = {}             # the latch is set: the others kill their bots as they read it
        others = sorted(node for node in heartbeats if node != self.node)
        # A node on older code (a rolling upgrade) never answers: waiting for it would only end
        # in "did not answer". Its heartbeat lacks the mark; it is named at once instead.
        older = [node for node in others if not heartbeats[node].get("answers_kill_all")]
        wait_secs = self._stop_grace_secs + 2 * REDIS_TIMEOUT_SECS     # their kills, and their answer
        answers = await self._kill_switch.answers_to(asked, [n for n in others if n not in older], wait_secs)
        pending.update({node: None if answer is None else answer.pending for node, answer in answers.items()})
        if problems := _pending_kills(pending, older, self._coordinator.views, wait_secs):
            raise BotStateError(f"the global kill switch is latched ({latch['reason']}), but not every kill is: "
                                + "; ".join(problems))
        return await self._killed_across(answers)

    async def _killed_across(self, answers: dict[str, KillAnswer | None]) -> list[BotStatus]:
        """This node's bots and those each other node answered it killed, sorted by id, each
        with its lease: as its node published them (with its lease) right before its answer. Before, only this
        node's bots were listed, and a `kill --all` that killed every node's bots read as if it
        had killed a few (a bot whose row is gone is shown as this node last saw it)."""
        here = [s.model_copy(update={"cluster": self._coordinator.lease_row(s.id)}) for s in self.statuses()]
        views = self._coordinator.views
        there = sorted({bot for node, answer in answers.items() if answer is not None
                        for unit in (answer.killed if answer.killed is not None       # a node on older code:
                                     else [u for u, v in views.items() if v is not None and v.node == node])
                        for bot in self._coordinator.units.get(unit, [unit])})
        try:
            rows = await self._nodes.rows(there)
        except REDIS_ERRORS:
            rows = {}
        remote = [BotStatus.model_validate(rows[bot]) if bot in rows else self.status(bot) for bot in there]
        return sorted(here + remote, key=lambda status: status.id)

    async def resume_all(self) -> list[BotStatus]:
        """Release the global kill switch: every node resumes the bots it killed."""
        await self._kill_switch.clear()
        await self._coordinator.apply_kill_latch(None)
        return self.statuses()

    async def move(self, bot_id: str, node: str) -> dict[str, Any]:
        """Ask for `bot_id` to run on `node`: its owner hands it over at a candle boundary. A
        basket moves whole, by its id; a leg alone is refused (its legs share one cash balance)."""
        if (basket := self._coordinator.unit_of(bot_id)) != bot_id:
            raise BotStateError(f"bot {bot_id} is a leg of basket {basket}, whose legs share one cash balance "
                                f"and run on one node: move the basket whole (botrunner move {basket} {node})")
        if bot_id not in self._coordinator.units:
            self._manager.status(bot_id)                 # UnknownBot
        live = await self._nodes.live()
        if node not in live:
            raise BotStateError(f"no live node {node!r}; live nodes: {', '.join(live) or 'none'}")
        lease = self._coordinator.lease_row(bot_id)
        if lease is not None and lease["node"] == self.node and not self._coordinator.holds(bot_id):
            # This node's last round saw itself holding what it has handed over since (a move
            # back asked right after a move away): that view is out of date, not an answer.
            lease = None
        if lease is not None and lease["node"] == node:
            raise BotStateError(f"bot {bot_id} already runs on node {node}")
        await self._nodes.request_move(bot_id, node)
        return {"bot": bot_id, "from": lease["node"] if lease else None, "to": node,
                "note": f"its owner hands it over at its next candle boundary; the request stands "
                        f"{MOVE_REQUEST_SECS}s"}

    def cluster(self) -> dict[str, Any]:
        """This node's view: its name, the live nodes, the latch, its counters."""
        counters = self._coordinator.counters
        return {"node": self.node, "live_nodes": self._coordinator.live_nodes,
                "held": sorted(self._coordinator.held), "kill_all": self._coordinator.kill_latch,
                "counters": {name: getattr(counters, name) for name in counters.__slots__}}

    def cluster_metrics(self) -> str:
        """Prometheus text of this node's lease figures (appended to /metrics)."""
        node, counters = self.node, self._coordinator.counters
        lines = [
            "# HELP botrunner_cluster_leases_held Bot leases this node holds.",
            "# TYPE botrunner_cluster_leases_held gauge",
            f'botrunner_cluster_leases_held{{node="{node}"}} {len(self._coordinator.held)}',
            "# HELP botrunner_cluster_kill_all 1 while the cluster's global kill switch is latched.",
            "# TYPE botrunner_cluster_kill_all gauge",
            f'botrunner_cluster_kill_all{{node="{node}"}} {int(self._coordinator.kill_latch is not None)}',
        ]
        for name, help_text in (("renew_failures", "Lease renewals that failed (Redis out of reach)."),
                                ("rounds", "Coordination rounds done (status rows, kill switch, balancing)."),
                                ("round_failures", "Coordination rounds ended early by an error."),
                                ("leases_lost", "Leases lost: taken by another node, or stopped by the deadline."),
                                ("takeovers", "Bots taken over from a node that stopped renewing."),
                                ("acquired", "Leases won, takeovers included."),
                                ("handed_over", "Bots handed over to balance or on request.")):
            lines += [f"# HELP botrunner_cluster_{name}_total {help_text}",
                      f"# TYPE botrunner_cluster_{name}_total counter",
                      f'botrunner_cluster_{name}_total{{node="{node}"}} {getattr(counters, name)}']
        return "\n".join(lines) + "\n"


def _pending_kills(pending: dict[str, dict[str, str] | None], older: list[str],
                   views: dict[str, LeaseView | None], waited_secs: float) -> list[str]:
    """`kill_all`'s refusal, a line per bot not killed yet, by node (from the nodes' answers; None:
    a node that did not answer), and a line per node on `older` code, not asked for an answer.
    A node without an answer is named with the bots its leases held at this node's last round."""
    def held(node: str) -> str:
        return ", ".join(sorted(b for b, view in views.items() if view is not None and view.node == node)) or "none"

    problems = []
    for node, kills in sorted(pending.items()):
        if kills is None:
            problems.append(f"node {node} did not answer within {waited_secs:g}s (its bots: {held(node)}); "
                            f"they are killed as it reads the latch, or start killed on the node that takes them over")
        else:
            problems += [f"on node {node}: {why}" for _, why in sorted(kills.items())]
    problems += [f"node {node} is running an older version, which does not answer kill --all: its bots "
                 f"({held(node)}) are killed as it reads the latch, unconfirmed" for node in older]
    return problems
