"""Claiming a unit's bots in PostgreSQL with the lease a node just won (see runner.cluster.leases).

The fence of every leg is raised to the lease's token before any of them runs. A fence already
at or above it means Redis lost the bot's generation (restarted without its data, `FLUSHALL`):
its tokens start again at 1 while PostgreSQL remembers the highest handed out. The lease is then
raised above the highest such fence in Redis's own check-and-set step (`LeaseStore.raise_above`),
once, and claimed again: the token still comes from one lease only, and the fence still only
goes up, so two nodes never both hold a token the database accepts.
"""

from __future__ import annotations

from loguru import logger

from runner.cluster.leases import Lease, LeaseStore
from runner.cluster.ports import Fencing

__all__ = ["claim_unit"]


async def claim_unit(lease: Lease, legs: list[str], leases: LeaseStore, fencing: Fencing) -> Lease | None:
    """The lease the unit's `legs` (a plain bot: itself) are fenced with now, or None when the
    unit is left alone: its lease released (a fence raised past it again meanwhile, by a node
    that won a later lease) or lost meanwhile."""
    refused = [leg for leg in legs if not await fencing.claim(leg, lease.token)]
    if refused:
        floor = max([await fencing.fence(leg) for leg in refused])
        raised = await leases.raise_above(lease, floor)
        if raised is None:
            return None                                       # not ours any more: nothing to release
        logger.warning("Cluster: bot {}'s fence in PostgreSQL holds token {}, not below the lease's {} (Redis "
                       "restarted without its data?); lease raised to token {}", refused[0], floor,
                       lease.token, raised.token)
        lease = raised
        refused = [leg for leg in legs if not await fencing.claim(leg, lease.token)]
    if refused:
        logger.error("Cluster: bot {}'s fence in PostgreSQL is above token {}; leaving {} alone",
                     refused[0], lease.token, lease.bot_id)
        await leases.release(lease)
        return None
    return lease
