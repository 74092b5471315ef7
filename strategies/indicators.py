"""Incremental indicators: one closed-candle value in, O(1) work, the latest indicator value out.

Each has `update(value) -> float | None` (None until it has seen enough values) and keeps the
latest result in `value`. They follow the `ta` library's definitions, so research done with ta
on a DataFrame and the daemon's candle-by-candle values agree:

- `SMA` and `Bollinger` keep their window sums *exactly* (as integers), so a mean depends only
  on the values in the window, never on the order they came in or on what left the window.
  Two SMAs over a flat stretch are then exactly equal, and `fast > slow` cannot flip on
  rounding noise (a rolling float sum drifts by a few ulps and does flip it).
- `EMA` and `RSI` repeat the float operations of pandas' `ewm(adjust=False).mean()` in the same
  order, so they match ta's values (bit for bit with pandas 3.1).

Inputs must be finite floats: candles are validated where they enter the process. (`SMA` and
`Bollinger` raise ValueError or OverflowError on a NaN or an infinity; `EMA` and `RSI` would
carry it forward.)
"""

from __future__ import annotations

import math


class SMA:
    """Simple moving average over the last `period` values, correctly rounded.

    The result equals `float(sum(map(Fraction, window)) / period)` bit for bit, so it depends
    only on the values in the window. How: a finite float is an integer times a power of two,
    so every value is stored as an int scaled by a common 2**K (`_bits` is K) and the window sum
    is an exact int; the mean is `sum / (period << K)`, and CPython's int-by-int true division
    is correctly rounded. K only grows, on the rare value with more fractional bits than any
    before (then the stored ints are rescaled once).

    >>> sma = SMA(2)
    >>> sma.update(1.0), sma.update(2.0), sma.value
    (None, 1.5, 1.5)
    """

    __slots__ = ("period", "value", "_window", "_pos", "_missing", "_sum", "_bits", "_scale", "_den")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be >= 1, got {period}")
        self.period = period
        self.value: float | None = None
        self._window = [0] * period  # scaled ints, a ring buffer; zeros stand for "not yet seen"
        self._pos = 0
        self._missing = period
        self._sum = 0
        self._bits = 0
        self._scale = 1.0  # 2.0**_bits
        self._den = period  # period << _bits

    def update(self, value: float) -> float | None:
        # Multiplying by a power of two is exact, so an integral product is value * 2**K
        # itself: int() of it is the scaled value, with no as_integer_ratio (~3x slower).
        scaled = value * self._scale
        scaled = int(scaled) if scaled.is_integer() else self._scale_up(value)
        pos = self._pos
        window = self._window
        self._sum += scaled - window[pos]
        window[pos] = scaled
        pos += 1
        self._pos = 0 if pos == self.period else pos
        if self._missing:
            self._missing -= 1
            if self._missing:
                return None
        self.value = mean = self._sum / self._den
        return mean

    def _scale_up(self, value: float) -> int:
        """`value * 2**K` as an int, raising K first if `value` has more fractional bits."""
        bits = _fraction_bits(value)
        if bits > self._bits:
            extra = bits - self._bits
            self._window = [v << extra for v in self._window]
            self._sum <<= extra
            self._bits = bits
            self._scale = _power_of_two(bits)
            self._den = self.period << bits
        return _scaled_int(value, self._bits)


class EMA:
    """Exponential moving average, like `ta.trend.EMAIndicator(close, period)`.

    That is pandas' `ewm(span=period, adjust=False, min_periods=period).mean()`: seeded with the
    first value, then `avg = ((1 - a) * avg + a * x) / ((1 - a) + a)` with `a = 1 / (1 + com)`
    and `com = (period - 1) / 2`, skipped when `x == avg`. The odd-looking division by
    `(1 - a) + a` and the round trip through `com` are pandas'; they are kept so the values
    match `ta` to the last bit. No value until `period` inputs.
    """

    __slots__ = ("period", "value", "_alpha", "_decay", "_norm", "_avg", "_missing")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be >= 1, got {period}")
        self.period = period
        self.value: float | None = None
        self._alpha, self._decay, self._norm = _pandas_ewm_weights(com=(period - 1) / 2)
        self._avg: float | None = None
        self._missing = period

    def update(self, value: float) -> float | None:
        avg = self._avg
        if avg is None:
            avg = value
        elif avg != value:
            avg = (self._decay * avg + self._alpha * value) / self._norm
        self._avg = avg
        if self._missing:
            self._missing -= 1
            if self._missing:
                return None
        self.value = avg
        return avg


class RSI:
    """Relative strength index in [0, 100], like `ta.momentum.RSIIndicator(close, period)`.

    Gains and losses are smoothed with pandas' `ewm(alpha=1/period, adjust=False)`. Two quirks
    of `ta` are kept on purpose, so the numbers match it: the first close counts as a change of
    zero (pandas' leading NaN diff becomes 0.0 gain and 0.0 loss), so the first value comes
    after `period` closes rather than `period + 1`; and when the average loss is 0 the RSI is
    100, even on a perfectly flat series (where 50 would be the textbook answer).
    """

    __slots__ = ("period", "value", "_alpha", "_decay", "_norm", "_prev", "_gain", "_loss", "_missing")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"RSI period must be >= 1, got {period}")
        self.period = period
        self.value: float | None = None
        alpha = 1.0 / period
        self._alpha, self._decay, self._norm = _pandas_ewm_weights(com=(1.0 - alpha) / alpha)
        self._prev: float | None = None
        self._gain = 0.0
        self._loss = 0.0
        self._missing = period

    def update(self, value: float) -> float | None:
        prev = self._prev
        self._prev = value
        if prev is not None:  # on the first close both averages keep their 0.0 seed, as in ta
            change = value - prev
            gain = change if change > 0 else 0.0
            loss = -change if change < 0 else 0.0
            if self._gain != gain:
                self._gain = (self._decay * self._gain + self._alpha * gain) / self._norm
            if self._loss != loss:
                self._loss = (self._decay * self._loss + self._alpha * loss) / self._norm
        if self._missing:
            self._missing -= 1
            if self._missing:
                return None
        loss = self._loss
        self.value = rsi = 100.0 if loss == 0 else 100 - 100 / (1 + self._gain / loss)
        return rsi


class Bollinger:
    """Bollinger bands: `middle` is the exact SMA of the last `period` values, `upper` and
    `lower` are `middle ± dev * std`, with `std` the population (ddof=0) standard deviation;
    like `ta.volatility.BollingerBands(close, period, dev)`.

    Mean and variance come exactly from `RollingStd`'s int sums of x and x*x, each rounded once:
    a flat window has a std of exactly 0, and the bands are the same whatever came before the
    window. `update` returns `middle`, or None for the first `period - 1` values.
    """

    __slots__ = ("period", "dev", "value", "middle", "upper", "lower", "std", "_stats")

    def __init__(self, period: int, dev: float) -> None:
        if period < 1:
            raise ValueError(f"Bollinger period must be >= 1, got {period}")
        self.period = period
        self.dev = dev
        self.value: float | None = None
        self.middle: float | None = None
        self.upper: float | None = None
        self.lower: float | None = None
        self.std: float | None = None
        self._stats = RollingStd(period, ddof=0)

    def update(self, value: float) -> float | None:
        stats = self._stats
        std = stats.update(value)
        if std is None:
            return None
        self.std = std
        self.middle = self.value = middle = stats.mean
        self.upper = middle + self.dev * std
        self.lower = middle - self.dev * std
        return middle


def _fraction_bits(value: float) -> int:
    """How many binary digits `value` has after the point (0 for integers).

    Raises ValueError for NaN, OverflowError for an infinity."""
    return value.as_integer_ratio()[1].bit_length() - 1


def _scaled_int(value: float, bits: int) -> int:
    """`value * 2**bits` exactly, as an int; `bits` must be >= `_fraction_bits(value)`."""
    num, den = value.as_integer_ratio()
    return num << (bits + 1 - den.bit_length())


def _power_of_two(bits: int) -> float:
    # Past 2**1023 the float overflows; inf makes every product non-integral (inf or nan),
    # so each update takes the exact slow path: right, and only for values below 1e-300.
    return math.ldexp(1.0, bits) if bits < 1024 else math.inf


def _pandas_ewm_weights(com: float) -> tuple[float, float, float]:
    """(new weight, old weight, normaliser) as pandas' ewm kernel derives them for adjust=False.

    pandas turns span or alpha into a centre of mass, then back into `alpha = 1 / (1 + com)`,
    which is not always the alpha the caller started from (for RSI periods 3, 6, 19, 20, 24, ...
    `1/period` comes back one ulp off), and each step divides by `old + new` (1.0 for every
    period up to 10_000, but that is pandas' arithmetic, not a law). Both are kept so the results
    match ta's to the bit.
    """
    alpha = 1.0 / (1.0 + com)
    decay = 1.0 - alpha
    return alpha, decay, decay + alpha


class ATR:
    """Average true range, Wilder's smoothing, like `ta.volatility.AverageTrueRange(h, l, c, period)`.

    The true range is `max(high - low, |high - prev_close|, |low - prev_close|)`, and just
    `high - low` on the first candle (ta's NaN previous close drops out of its row max). The
    first ATR is the mean of the first `period` true ranges, after `period` candles; then
    `atr = (atr * (period - 1) + tr) / period`, in ta's order of operations. Before that, None
    (ta fills those rows with 0.0, which is not a value).
    """

    __slots__ = ("period", "value", "_prev_close", "_sum", "_missing")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"ATR period must be >= 1, got {period}")
        self.period = period
        self.value: float | None = None
        self._prev_close: float | None = None
        self._sum = 0.0
        self._missing = period

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        tr = high - low
        if prev is not None:
            up, down = abs(high - prev), abs(low - prev)
            if up > tr:
                tr = up
            if down > tr:
                tr = down
        if self._missing:
            self._sum += tr
            self._missing -= 1
            if self._missing:
                return None
            atr = self._sum / self.period
        else:
            atr = (self.value * (self.period - 1) + tr) / self.period
        self.value = atr
        return atr


class RollingStd:
    """Standard deviation of the last `period` values, with `ddof` 1 (sample, pandas'
    `rolling(period).std()`, the default) or 0 (population, as in `Bollinger`).

    Exact like `Bollinger`: the window's sums of x and x*x are ints (x scaled by 2**K), the
    variance `(n s2 - s**2) / (n (n - ddof) 4**K)` is rounded once, then square-rooted; so a
    window of equal values has a std of exactly 0, and the result depends only on the window.
    No value until `period` inputs.
    """

    __slots__ = ("period", "ddof", "value", "mean", "_window", "_pos", "_missing", "_sum", "_sum_sq", "_bits",
                 "_scale")

    def __init__(self, period: int, ddof: int = 1) -> None:
        if ddof not in (0, 1) or period < 1 or period <= ddof:
            raise ValueError(f"RollingStd needs ddof 0 or 1 and period > ddof, got period {period}, ddof {ddof}")
        self.period = period
        self.ddof = ddof
        self.value: float | None = None
        self.mean: float | None = None
        self._window = [0] * period
        self._pos = 0
        self._missing = period
        self._sum = 0
        self._sum_sq = 0
        self._bits = 0
        self._scale = 1.0

    def update(self, value: float) -> float | None:
        scaled = value * self._scale  # exact; see SMA.update
        scaled = int(scaled) if scaled.is_integer() else self._scale_up(value)
        pos = self._pos
        old = self._window[pos]
        self._window[pos] = scaled
        self._sum += scaled - old
        self._sum_sq += scaled * scaled - old * old
        pos += 1
        self._pos = 0 if pos == self.period else pos
        if self._missing:
            self._missing -= 1
            if self._missing:
                return None
        n, total = self.period, self._sum
        self.mean = total / (n << self._bits)
        den = (n * (n - self.ddof)) << (2 * self._bits)
        self.value = std = math.sqrt((n * self._sum_sq - total * total) / den)
        return std

    def _scale_up(self, value: float) -> int:
        bits = _fraction_bits(value)
        if bits > self._bits:
            extra = bits - self._bits
            self._window = [v << extra for v in self._window]
            self._sum <<= extra
            self._sum_sq <<= 2 * extra
            self._bits = bits
            self._scale = _power_of_two(bits)
        return _scaled_int(value, self._bits)
