"""When one line crosses another: the rule every crossover strategy here shares.

Up at candle t:   a[t] > b[t] and a[t-1] <= b[t-1]  -> GO_LONG
Down at candle t: a[t] < b[t] and a[t-1] >= b[t-1]  -> GO_FLAT

So touching (a == b) and then moving away counts as a crossing in the direction of the move,
and the first candle with both lines gives nothing (there is no t-1 to cross from).
"""

from __future__ import annotations

from strategies.signal import GO_FLAT, GO_LONG, Signal


class LineCross:
    __slots__ = ("_side",)

    def __init__(self) -> None:
        self._side: int | None = None   # sign of a - b at the previous candle

    def update(self, a: float, b: float) -> Signal | None:
        """Feed this candle's values of both lines; the signal when `a` crossed `b`."""
        side = (a > b) - (a < b)
        before = self._side
        if side == before:               # the common case: no change since the last candle
            return None
        self._side = side
        if before is None or side == 0:
            return None
        return GO_LONG if side > 0 else GO_FLAT
