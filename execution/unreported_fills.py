"""`UnreportedFills`: the fills a live engine has learnt and not yet handed to the runner.

A trade can be learnt more than once: from an order's reply, from its trade list at a later
poll, from a periodic reconciliation, or after a restart when the runner has already booked it.
Each trade id is handed over once, ever, so the portfolio never books a fill twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from execution.models import Fill

__all__ = ["UnreportedFills"]


class UnreportedFills:
    """Fills waiting to be reported, and the trade ids reported (or booked) already."""

    def __init__(self) -> None:
        # Every trade id reported (or booked before a restart): about 100 bytes per fill.
        self._reported_ids: set[str] = set()
        self._waiting: list[Fill] = []

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def reported_ids(self) -> set[str]:
        """The trade ids reported or booked so far; read it, never change it."""
        return self._reported_ids

    def mark_booked(self, fill_ids: Iterable[str]) -> None:
        """Trades the bot booked before a restart: counted where seen, never reported again."""
        self._reported_ids.update(fill_ids)

    def add(self, fill: Fill) -> None:
        """Keep `fill` for the next `drain`, unless its trade was reported or booked before."""
        if fill.fill_id not in self._reported_ids:
            self._reported_ids.add(fill.fill_id)
            self._waiting.append(fill)

    def drain(self) -> list[Fill]:
        """The waiting fills in exchange time order; none wait afterwards."""
        fills, self._waiting = self._waiting, []
        fills.sort(key=lambda f: f.ts_ms)
        return fills
