"""A symbol deleted by hand from a basket's `symbols:` while its leg holds a position.

A provider's basket retires a symbol it drops (`runner.basket.provider`). A fixed list has no
provider, and before this a reload that lost a symbol stopped its leg with the position open:
no leg was left to close it, and the basket's equity lost its value. Now the daemon treats it
the same way: at a reload (`BotManager.reload`) a basket's leg that leaves while it holds a
position (or owes a flatten) stays, `retiring`, under the basket's `on_retire`: `exit` sells at
once (the leg is rebuilt, and `retire_on_start` closes the position), `hold` keeps it, entering
nothing, until its own exit. `leave_when_flat` then lets every retiring leg go once it is flat
(a provider's too, without waiting for its next refresh), and the roster keeps what it made in
the basket's cash (`runner.basket.roster`).

Only a leg this daemon runs is kept: a symbol deleted while the daemon was down is found at the
start by the roster, which logs the position left behind (its market, a csv file of its own,
is no longer in the basket's file to rebuild the leg from).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Iterable

from loguru import logger

from runner.config.bot import BotConfig

if TYPE_CHECKING:
    from runner.daemon.manager import BotManager
    from runner.daemon.slots import BotSlot

__all__ = ["RETIRED_CHECK_SECS", "keep_retiring", "leave_when_flat"]

RETIRED_CHECK_SECS = 1.0
_BUILDING = ("created", "starting", "restarting")


def keep_retiring(configs: dict[str, BotConfig], leaving: Iterable[BotSlot]) -> list[BotConfig]:
    """The configs of the `leaving` slots (not in `configs`, the bots configured now) to keep:
    basket legs whose basket is still configured and that hold a position, as retiring legs
    with the basket's settings as `configs` have them now."""
    siblings = {c.basket.basket: c for c in configs.values() if c.basket is not None}
    kept = []
    for slot in leaving:
        old = slot.config
        sibling = siblings.get(old.basket.basket) if old.basket is not None else None
        if sibling is None or not _holds(slot):
            continue                     # a plain bot, a basket deleted whole, or a flat leg: it leaves
        basket = sibling.basket.model_copy(update={"retiring": True})
        kept.append(sibling.model_copy(update={"id": old.id, "symbol": old.symbol, "market": old.market,
                                               "basket": basket}))
        if not old.basket.retiring:
            logger.info("Basket {}: {} left symbols: with a position; its leg stays, retiring (on_retire: {})",
                        basket.basket, old.symbol, basket.on_retire)
    return kept


def _holds(slot: BotSlot) -> bool:
    runner = slot.runner
    return runner is not None and bool(runner.portfolio.quantity or runner.flatten_pending)


async def leave_when_flat(manager: BotManager, interval_secs: float = RETIRED_CHECK_SECS) -> None:
    """Until cancelled: every `interval_secs`, the retiring legs that are flat (sold, or exited
    by their strategy) leave the daemon (`manager.reload` without them)."""
    while True:
        await asyncio.sleep(interval_secs)
        # Only the retiring legs are read (`manager.retiring_legs`): every bot's config, every
        # second, was 5-12 ms of the loop at ten thousand bots.
        flat = [slot.id for slot in manager.retiring_legs() if _flat(manager, slot.id)]
        if flat:
            configs = manager.configs()
            logger.info("Retired basket legs {} are flat; they leave", ", ".join(flat))
            try:
                await manager.reload([c for c in configs if c.id not in flat])
            except Exception:               # the next turn tries again; the legs stay meanwhile
                logger.exception("Removing the flat retired legs {} failed", ", ".join(flat))


def _flat(manager: BotManager, bot_id: str) -> bool:
    status = manager.status(bot_id)
    return (status.started and status.state not in _BUILDING and status.position == 0
            and not status.flatten_pending)
