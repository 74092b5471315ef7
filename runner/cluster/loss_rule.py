"""The cluster's account-level rule (`kill_all_at_loss_pct`): what it counts, for every node.

Every bot of the cluster counts with its latest known money, whatever it is doing now:

1. its figures in Redis (`NodeRegistry.figures`): what its owner last published from a bot that
   has stepped, kept until the next owner replaces them, so a bot stopped, killed, failed, or
   whose node died counts with what it had when last seen (a bot that no live node's config
   lists any more has them deleted: `NodeRegistry.prune_figures`, at every round);
2. for a bot with none there (never published since Redis lost its data, or never stepped),
   its last snapshot in PostgreSQL (`SavedFigures`): the cash and position it saved;
3. a bot with neither has made nothing yet and is left out.

The bots counted are those of this node's config: one removed from every node's config counts
nowhere. The capital is the sum of each bot's equity less its PnL, the loss the sum of its PnLs; the
rule trips once the loss reaches `limit` of the capital. The snapshots are read once for each
bot missing from Redis and kept while it is missing: the rule runs every round, and a bot that
never steps would otherwise cost a database query each time.
"""

from __future__ import annotations

from typing import Protocol

from runner.cluster.nodes import NodeRegistry

__all__ = ["AccountLoss", "SavedFigures"]

Figures = dict[str, float]          # {"equity": ..., "pnl": ...}


class SavedFigures(Protocol):
    """The equity and PnL in bots' last snapshots (runner.cluster.postgres.snapshots)."""

    async def figures(self, bot_ids: list[str]) -> dict[str, Figures]: ...


class AccountLoss:
    def __init__(self, nodes: NodeRegistry, saved: SavedFigures | None, limit: float) -> None:
        self._nodes = nodes
        self._saved = saved
        self.limit = limit
        self._from_snapshots: dict[str, Figures | None] = {}     # bots missing from Redis, as saved

    async def figures(self, bot_ids: list[str]) -> dict[str, Figures]:
        """Every bot's latest known figures (see the module docstring); bots with none left out."""
        known = await self._nodes.figures(bot_ids)
        for bot_id in known:
            self._from_snapshots.pop(bot_id, None)       # published again: Redis has the latest
        missing = [bot_id for bot_id in bot_ids if bot_id not in known]
        unread = [bot_id for bot_id in missing if bot_id not in self._from_snapshots]
        if unread and self._saved is not None:
            saved = await self._saved.figures(unread)
            self._from_snapshots.update({bot_id: saved.get(bot_id) for bot_id in unread})
        for bot_id in missing:
            if (figures := self._from_snapshots.get(bot_id)) is not None:
                known[bot_id] = figures
        return known

    async def breach(self, bot_ids: list[str]) -> str | None:
        """Why the rule trips now (the loss against the capital), or None."""
        figures = (await self.figures(bot_ids)).values()
        capital = sum(f["equity"] - f["pnl"] for f in figures)
        pnl = sum(f["pnl"] for f in figures)
        if capital > 0 and -pnl >= self.limit * capital:
            return (f"the cluster's bots lost {-pnl / capital:.1%} of their capital together "
                    f"({pnl:,.2f} of {capital:,.2f}); kill_all_at_loss_pct is {self.limit:.1%}")
        return None
