"""What a strategy says: the position it wants, not an order.

A signal names a target direction; the risk engine turns it into a sized order (or rejects it)
and the runner places that order. Short selling needs no change here: `Direction.SHORT` exists,
and the risk engine decides whether a bot may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Direction(IntEnum):
    SHORT = -1
    FLAT = 0
    LONG = 1


@dataclass(slots=True, frozen=True)
class Signal:
    """The position a strategy wants after this candle, and why (for the journal)."""

    direction: Direction
    reason: str = ""


GO_LONG = Signal(Direction.LONG, "enter long")
GO_FLAT = Signal(Direction.FLAT, "exit")
