"""What `BotManager` answers without changing anything: every bot's status (as models, or as
rows the control API sends in chunks), a basket's status, governed bots' levels, configs.

A mixin of `runner.daemon.manager.BotManager`, whose state it reads (`_slots`, `_services`);
kept apart because the manager's other two jobs, supervising bots and acting on control
requests (`runner.daemon.control_requests`), change it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runner.basket.status import BasketStatus, basket_status
from runner.config.bot import BotConfig
from runner.control.errors import BotStateError, UnknownBot
from runner.control.governance_status import GovernanceStatus, governance_status
from runner.control.live_feed import BotSample
from runner.control.status import BotStatus
from runner.daemon.services import DaemonServices
from runner.daemon.slots import BotSlot
from runner.governance.saved import GOVERNANCE_KIND

# Bots whose status rows are built between two turns of the event loop: 5-15 us a bot here.
STATUS_CHUNK_BOTS = 200


class ManagerQueries:
    """The read side of `BotManager`; see the module's docstring."""

    _slots: dict[str, BotSlot]
    _services: DaemonServices

    def statuses(self) -> list[BotStatus]:
        """Every bot's status as a validated model, sorted by id, in one go: for callers in this
        process. The control API lists the bots with `status_rows()`, which yields to the loop."""
        forecasts, groups = self._services.forecasts, {}
        return [BotStatus.model_validate(self._slots[bot_id].status_row(forecasts, groups))
                for bot_id in sorted(self._slots)]

    async def status_rows(self, chunk_bots: int = STATUS_CHUNK_BOTS) -> list[dict[str, Any]]:
        """Every bot's status as `BotStatus.model_dump(mode="json")` would give it, sorted by id,
        for the control API to send as it is. A turn of the event loop after every `chunk_bots`
        bots: ten thousand bots in one go held every candle for a third of a second. So the rows
        are not of one moment: a bot may step between two chunks."""
        forecasts, slots = self._services.forecasts, [self._slots[bot_id] for bot_id in sorted(self._slots)]
        rows: list[dict[str, Any]] = []
        for start in range(0, len(slots), chunk_bots):
            if start:
                await asyncio.sleep(0)
            groups: dict[int, dict[str, Any]] = {}          # a risk group's figures, once a chunk
            rows += [slot.status_row(forecasts, groups) for slot in slots[start:start + chunk_bots]]
        return rows

    def configs(self) -> list[BotConfig]:
        """Every bot's config, in every state."""
        return [slot.config for slot in self._slots.values()]

    def bot_count(self) -> int:
        """The bots configured (in every state), without building their statuses."""
        return len(self._slots)

    def status(self, bot_id: str) -> BotStatus:
        return self._status(self._slot(bot_id))

    def dashboard_samples(self) -> list[BotSample]:
        """Every bot as the dashboard's feed samples it each tick (cheaper than `statuses()`)."""
        return [slot.dashboard_sample() for slot in sorted(self._slots.values(), key=lambda s: s.id)]

    def mode_of(self, bot_id: str) -> str | None:
        """The bot's mode (sim, paper, live), None for a bot not configured (any more)."""
        slot = self._slots.get(bot_id)
        return slot.config.mode if slot is not None else None

    def basket(self, basket_id: str) -> BasketStatus:
        """The basket whole: its cash, equity, open positions, latch and legs (runner.basket.status)."""
        legs = self._basket_legs(basket_id)
        if not legs:
            raise UnknownBot(f"no basket {basket_id!r}")
        groups: dict[int, dict[str, Any]] = {}
        return basket_status(basket_id, [s.status_row(self._services.forecasts, groups) for s in legs],
                             {s.id: s.config.basket.retiring for s in legs},
                             self._services.risk_groups.baskets.group(basket_id))

    def _basket_legs(self, bot_id: str) -> list[BotSlot]:
        """The legs of the basket `bot_id` (none when it is a bot's id, or no basket's)."""
        if bot_id in self._slots:
            return []
        return [s for _, s in sorted(self._slots.items()) if s.config.basket and s.config.basket.basket == bot_id]

    def governance(self, bot_id: str | None = None) -> list[GovernanceStatus]:
        """Level, health, drift and the last decisions of one bot, or of every governed bot."""
        if bot_id is not None:
            slot = self._slot(bot_id)
            if not slot.config.governance.enabled:
                raise BotStateError(f"bot {bot_id} is not governed; add governance: {{enabled: true}} to its config")
            return [self._governance(slot)]
        slots = sorted(self._slots.values(), key=lambda s: s.id)
        return [self._governance(slot) for slot in slots if slot.config.governance.enabled]

    def _governance(self, slot: BotSlot) -> GovernanceStatus:
        figures = slot.runner.governance_figures() if slot.runner is not None else None
        return governance_status(slot.id, self._status(slot).state, slot.config.mode, figures,
                                 slot.journal.events(kinds=(GOVERNANCE_KIND,)))

    def _slot(self, bot_id: str) -> BotSlot:
        try:
            return self._slots[bot_id]
        except KeyError:
            raise UnknownBot(f"no bot {bot_id!r}; bots: {', '.join(sorted(self._slots)) or 'none'}") from None

    def _status(self, slot: BotSlot) -> BotStatus:
        return slot.status(self._services.forecasts)
