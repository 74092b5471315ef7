"""A sim basket leg in the daemon steps each candle on its basket's clock (`runner.basket.lockstep`).

A mixin of `StrategyRunner`: `_steps` asks `_lockstep_turn` before each candle of a leg that
`step_in_lockstep` put on the clock, and reads one `is None` for every other bot.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.basket.lockstep import LegLockstep

__all__ = ["LockstepFlow"]


class LockstepFlow:
    """`StrategyRunner`'s turn on its basket's clock; see the module docstring."""

    _lockstep: LegLockstep | None = None            # None: not a sim basket's leg (paper, live, a plain bot)

    def step_in_lockstep(self) -> None:
        """For a sim basket leg's runner in the daemon, when built: step each candle only once
        every other running leg has stepped the candles before it (the basket's backtest order)."""
        group = self.risk_group
        group.lockstep.join(self.bot_id, group.place_of(self.symbol))
        self._lockstep = group.lockstep

    async def _lockstep_turn(self, ts_ms: int) -> None:
        """Wait for the turn of the candle opening at `ts_ms`. A stop or kill asked for before or
        while waiting ends the wait (`request_stop` and `request_kill` set `_rerun_wake`, the
        waiting leg's wake): the caller's interrupt check then acts on it."""
        lockstep = self._lockstep
        if lockstep.may_step(self.bot_id, ts_ms):
            return
        interrupt = self._interrupt
        if interrupt is not None and interrupt[0] != "scheduled":
            return                                  # a stop or kill is waiting already
        self._rerun_wake = wake = asyncio.Event()
        try:
            await lockstep.turn(self.bot_id, ts_ms, wake)
        finally:
            self._rerun_wake = None
