"""What a strategy says: the position it wants, not an order.

A signal names a target direction; the risk engine turns it into a sized order (or rejects it)
and the runner places that order. Short selling needs no change here: `Direction.SHORT` exists,
and the risk engine decides whether a bot may use it.

A plain `Signal` asks for a market order. `LimitSignal` asks for a limit order at `price`, good
till cancelled or for `expire_after` candles (see `runner.bot.limit_orders`); it is a subclass,
so a market signal costs what it always did.
"""

from __future__ import annotations

import math
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


@dataclass(slots=True, frozen=True, kw_only=True)
class LimitSignal(Signal):
    """A signal that asks for a limit order at `price` (quote currency): a LONG one buys at
    `price` or lower, a FLAT one sells the position at `price` or higher.

    `expire_after`: the order is cancelled when the `expire_after`-th candle after the one it
    was placed on closes unfilled (the rest of a partly filled order too); None keeps it until it
    fills or is cancelled (good till cancelled, GTC).

        LimitSignal(Direction.LONG, "dip", price=close * 0.998, expire_after=3)
    """

    price: float
    expire_after: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.price, (int, float)) and math.isfinite(self.price) and self.price > 0):
            raise ValueError(f"a limit signal needs a finite price above 0, got {self.price!r}")
        after = self.expire_after
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 1):
            raise ValueError(f"expire_after is a number of candles, 1 or more (None: good till cancelled), "
                             f"got {after!r}")
        if self.direction is Direction.SHORT:
            raise ValueError("a limit signal is LONG (a limit entry) or FLAT (a limit exit)")


GO_LONG = Signal(Direction.LONG, "enter long")
GO_FLAT = Signal(Direction.FLAT, "exit")
