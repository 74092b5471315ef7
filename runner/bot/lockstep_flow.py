"""A sim basket leg in the daemon has its candles stepped on its basket's clock (`runner.basket.lockstep`).

A mixin of `StrategyRunner`: `_loop` gives each batch of a leg that `step_in_lockstep` put on the
clock to `_lockstep_steps` instead of `_steps`, so every other bot pays nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from market.models import Candle
    from runner.basket.lockstep import LegLockstep

__all__ = ["LockstepFlow"]


class LockstepFlow:
    """`StrategyRunner`'s batches on its basket's clock; see the module docstring."""

    _lockstep: LegLockstep | None = None            # None: not a sim basket's leg (paper, live, a plain bot)

    def step_in_lockstep(self) -> None:
        """For a sim basket leg's runner in the daemon, when built: step each candle only once
        every other running leg has stepped the candles before it (the basket's backtest order)."""
        group, place = self.risk_group, self.risk_group.place_of(self.symbol)
        group.lockstep.join(self.bot_id, place)
        self._lockstep = group.lockstep
        span = getattr(self.feed, "span_ms", None)      # a replay's cursor has it
        if span is not None:
            group.lockstep.note_span(self.symbol, place, span)

    async def _lockstep_steps(self, batch: Sequence[Candle]) -> bool:
        """`_steps` for a leg on the clock: the batch is handed over, and the clock's driver steps
        it through `_steps` candle by candle in the basket's order. True when the leg must stop.

        Given back early, the leg acts here on the stop or kill asked for (`request_stop` and
        `request_kill` call `release`), then hands the rest over again. Off the clock (it left),
        while the basket's legs re-run their journals, or once the basket is killed, it steps its
        candles itself."""
        lockstep, bot_id = self._lockstep, self.bot_id
        start, end = 0, len(batch)
        while start < end:
            if not lockstep.on_clock(bot_id):
                return await self._steps(batch[start:])
            # One at a time: the re-runs may end within the batch. Killed (the basket's one latch,
            # or this leg's kill that a resume has not acted on yet: `_killed_now`): no leg decides
            # any more, and each closes what it holds at its own next candle, now, not when the
            # clock gets there (a paced leg's gap away).
            if lockstep.holds_nobody or self._killed_now:
                if await self._steps(batch[start:start + 1]):
                    return True
                start += 1
                continue
            stop, start = await lockstep.hand_over(bot_id, self._steps, batch, start)
            if stop:
                return True
            interrupt = self._interrupt
            if start < end and interrupt is not None and interrupt[0] != "scheduled" and await self._handle_interrupt(
                    batch[start].ts_ms + self._bar_ms):
                return True
        return False
