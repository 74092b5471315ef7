"""`SMAPair`: two exact SMAs of one series compared, for a crossover strategy (`sma_cross`).

Comparing two `strategies.indicators.SMA`s' values needs each mean divided out of its int sum
(~90 ns an int-by-int division once the sum passes 2**53, as sums of prices in cents do). The
pair shares what two SMAs would each do (the scaling of a value, the ring of values) and
decides the sign from float estimates of the means wherever those settle it, dividing exactly
only where they do not. The scaling rules are `SMA`'s own (its helpers are imported).
"""

from __future__ import annotations

import math

from strategies.indicators import _fraction_bits, _power_of_two, _scaled_int

__all__ = ["SMAPair"]

# How far apart (relative) two estimates must be for the rounded means to differ the same way:
# 32 * 2**-53, against 3 * 2**-53 for each estimate and an ulp (<= 2 * 2**-53) for the rounding.
_APART = 2.0 ** -48
_NORMAL_ENOUGH = 2.0 ** -1000


class SMAPair:
    """The exact SMAs of one series over two periods, compared rather than read: `update(value)`
    gives the sign of `fast - slow` (1, 0 or -1, None until both have a value), always the same
    as comparing two `SMA`s' values, each correctly rounded; a crossover strategy needs no more.

    Cheaper than two `SMA`s: each value is scaled once for both sums, one ring buffer holds both
    windows (the shorter is the longer's tail), and the means are not divided out (an int by
    int division costs ~90 ns). The sign comes from float estimates of the means, each within
    3 * 2**-53 of its mean, whenever they are more than 32 * 2**-53 apart (relative): the
    rounded means then differ the same way. Closer than that (a tie on a flat stretch, a
    crossing within a hair), negative, or out of the estimates' range, the two means are
    rounded as `SMA` rounds them, and compared.

    >>> pair = SMAPair(1, 2)
    >>> pair.update(1.0), pair.update(2.0), pair.update(2.0), pair.means
    (None, 1, 0, (2.0, 2.0))
    """

    __slots__ = ("fast", "slow", "_window", "_pos", "_missing", "_fast_sum", "_slow_sum", "_bits", "_scale",
                 "_fast_unit", "_slow_unit")

    def __init__(self, fast: int, slow: int) -> None:
        if fast < 1 or slow < 1:
            raise ValueError(f"SMA periods must be >= 1, got {fast} and {slow}")
        self.fast = fast
        self.slow = slow
        self._window = [0] * max(fast, slow)  # scaled ints as in `SMA`; zeros stand for "not yet seen"
        self._pos = 0
        self._missing = max(fast, slow)
        self._fast_sum = 0
        self._slow_sum = 0
        self._bits = 0
        self._scale = 1.0
        self._set_units()

    def update(self, value: float) -> int | None:
        scaled = value * self._scale  # exact; see SMA.update
        scaled = int(scaled) if scaled.is_integer() else self._scale_up(value)
        pos = self._pos
        window = self._window
        # A period's oldest value is `period` places back: a negative index wraps the ring.
        fast_sum = self._fast_sum = self._fast_sum + scaled - window[pos - self.fast]
        slow_sum = self._slow_sum = self._slow_sum + scaled - window[pos - self.slow]
        window[pos] = scaled
        pos += 1
        self._pos = 0 if pos == len(window) else pos
        if self._missing:
            self._missing -= 1
            if self._missing:
                return None
        try:
            # int * float rounds the int to a float first: each estimate is within 3 * 2**-53 of
            # its mean, relative, and normal (a unit is >= 2**-1000, a non-zero sum >= 1).
            fast = fast_sum * self._fast_unit
            slow = slow_sum * self._slow_unit
        except OverflowError:                # a sum beyond floats' range (values near 1e308)
            return self._exact_side()
        # For estimates a > b >= 0, a - b > a * 2**-48 leaves the true means more than an ulp of
        # the larger apart, so they round apart too. Else (closer, or a negative mean): exactly.
        if fast > slow:
            if slow >= 0.0 and fast - slow > fast * _APART:
                return 1
        elif slow > fast and fast >= 0.0 and slow - fast > slow * _APART:
            return -1
        return self._exact_side()

    @property
    def means(self) -> tuple[float, float] | None:
        """(fast, slow) SMA values, each as `SMA` gives it; None until both have one."""
        if self._missing:
            return None
        bits = self._bits
        return self._fast_sum / (self.fast << bits), self._slow_sum / (self.slow << bits)

    def _exact_side(self) -> int:
        fast, slow = self.means
        return (fast > slow) - (fast < slow)

    def _scale_up(self, value: float) -> int:
        """`value * 2**K` as an int, raising K first if `value` has more fractional bits."""
        bits = _fraction_bits(value)
        if bits > self._bits:
            extra = bits - self._bits
            self._window = [v << extra for v in self._window]
            self._fast_sum <<= extra
            self._slow_sum <<= extra
            self._bits = bits
            self._scale = _power_of_two(bits)
            self._set_units()
        return _scaled_int(value, self._bits)

    def _set_units(self) -> None:
        # 1 / (period * 2**K): one rounding, then an exact power of two. Below 2**-1000 the
        # estimates could lose bits to underflow: units of 0.0 make them equal, so every side
        # is then found exactly.
        bits = self._bits
        fast_unit = math.ldexp(1.0 / self.fast, -bits)
        slow_unit = math.ldexp(1.0 / self.slow, -bits)
        if min(fast_unit, slow_unit) < _NORMAL_ENOUGH:
            fast_unit = slow_unit = 0.0
        self._fast_unit, self._slow_unit = fast_unit, slow_unit

