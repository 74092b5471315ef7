"""The daemon's clock for a sim basket's legs: no leg steps candle t before the others are at t.

In a backtest the legs step in one task, each leg's candle of a time after the others' of the
time before (`runner.basket.stepping`). In the daemon each leg is a `StrategyRunner` with its
own feed task, and the legs replayed their candles each at its own pace: the basket's equity
(summed over the legs' marks) mixed different moments, and the basket decided on a state that
never existed (synthetic-basket.yaml tripped its 30% drawdown kill at 2024-06-19 with the SOL
leg's last candle at 2024-05-24; its backtest ends at 28.69%).

So each leg of a sim basket announces the candle it is about to step (open time, then its place
in the basket's list of symbols, the backtest's order on a tie) and steps it only when every
other leg still running has announced a later one: a leg between two candles (stepping one, or
waiting for its feed's next) holds the others, since its next candle could be earlier. The
smallest announced candle always goes, so the legs never all wait. A leg leaves the clock when
its run ends (data ended, stopped, killed, failed, retired, removed): it holds nobody then.

While the basket's legs re-run their journalled candles after a restart (`runner.basket.reruns`)
the clock holds nobody: each leg re-runs to its journal's end at its own pace by design, and the
lockstep takes over once none re-runs (the legs ahead wait there for those behind).

Paper and live legs are driven by the exchange's clock and never join.
"""

from __future__ import annotations

import asyncio

from runner.basket.reruns import RerunBarrier, either_set

__all__ = ["LegLockstep"]


class LegLockstep:
    """One sim basket's legs stepping in candle order; see the module docstring."""

    def __init__(self, reruns: RerunBarrier) -> None:
        self._reruns = reruns
        # bot id -> (open time ms, place, bot id) of the candle it waits to step; None: between
        # candles. The id breaks a tie of places (a retired leg has none in the list), so keys never tie.
        self._next: dict[str, tuple[int, int, str] | None] = {}
        self._places: dict[str, int] = {}
        self._moved = asyncio.Event()        # a leg announced a candle or left: the waiting look again

    @property
    def legs(self) -> frozenset[str]:
        """The legs on the clock."""
        return frozenset(self._next)

    def join(self, bot_id: str, place: int) -> None:
        """`bot_id`'s leg steps on this clock, `place` its index in the basket's symbols (the
        order on a tie). Until it announces its first candle it holds the others."""
        self._next[bot_id] = None
        self._places[bot_id] = place

    def leave(self, bot_id: str) -> None:
        """`bot_id`'s leg no longer steps (its run ended, or it never started): nobody waits for it."""
        if self._next.pop(bot_id, 0) != 0:
            self._places.pop(bot_id, None)
            self._wake()

    def may_step(self, bot_id: str, ts_ms: int) -> bool:
        """Whether `bot_id`'s leg may step its candle opening at `ts_ms` now, without waiting."""
        if self._reruns.pending:
            return True
        mine = (ts_ms, self._places.get(bot_id, 0), bot_id)
        return all(key is not None and key > mine for other, key in self._next.items() if other != bot_id)

    async def turn(self, bot_id: str, ts_ms: int, wake: asyncio.Event) -> None:
        """Announce `bot_id`'s candle opening at `ts_ms` and return when the leg may step it, or
        once `wake` is set (a stop or kill asked for the waiting leg: the caller acts on it)."""
        if bot_id not in self._next:         # left (closed) meanwhile: holds nobody, waits for nobody
            return
        self._next[bot_id] = (ts_ms, self._places[bot_id], bot_id)
        self._wake()
        try:
            while not self.may_step(bot_id, ts_ms) and not wake.is_set():
                await either_set(self._moved, wake)
        finally:
            if bot_id in self._next:
                self._next[bot_id] = None    # stepping: its next candle is not known yet

    def _wake(self) -> None:
        # Every waiting leg looks again; a fresh event for the next wait (a handful of legs a basket).
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()
