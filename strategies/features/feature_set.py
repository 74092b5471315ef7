"""`FeatureSet`: the values of a set of feature specs, one closed candle at a time, O(1) each.

Each distinct computation (`FeatureSpec.compute_key`) gets one writer: a small slotted object
around an incremental indicator of `strategies.indicators` (or `AnchoredVWAP`), which reads the
fields it needs from the candle and writes its keys. Specs that compute the same thing under
another name ("bb:20:2" and "bb:20:2.0") are copied from the first one's keys afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from market.models import Candle
from strategies.features.specs import FeatureSpec, parse_specs
from strategies.indicators import ATR, EMA, RSI, SMA, Bollinger, RollingStd

_DAY_MS = 86_400_000


def utc_day(ts_ms: int) -> int:
    """The UTC day a candle opening at `ts_ms` belongs to (days since 1970-01-01)."""
    return ts_ms // _DAY_MS


class AnchoredVWAP:
    """Volume-weighted average of the typical price `(high + low + close) / 3` since the start
    of the current anchor period (`anchor(ts_ms)` changes value: the UTC day by default), like
    `cumsum(tp * volume) / cumsum(volume)` grouped by that period. A candle belongs to the
    period its open time falls in, so the first candle of a UTC day starts afresh at 00:00.

    The value covers only the candles fed: a stream fed from 13:00 has a day's VWAP from 13:00.
    None while the period's volume is still 0.
    """

    __slots__ = ("value", "_anchor", "_period", "_pv", "_volume")

    def __init__(self, anchor: Callable[[int], int] = utc_day) -> None:
        self.value: float | None = None
        self._anchor = anchor
        self._period: int | None = None
        self._pv = 0.0
        self._volume = 0.0

    def update(self, ts_ms: int, high: float, low: float, close: float, volume: float) -> float | None:
        period = self._anchor(ts_ms)
        if period != self._period:
            self._period = period
            self._pv = self._volume = 0.0
        self._pv += (high + low + close) / 3.0 * volume
        self._volume += volume
        self.value = value = self._pv / self._volume if self._volume else None
        return value


class _Close:
    __slots__ = ("_update", "_key")

    def __init__(self, indicator, key: str) -> None:
        self._update, self._key = indicator.update, key

    def write(self, candle: Candle, out: dict) -> None:
        out[self._key] = self._update(candle.close)


class _Bands:
    __slots__ = ("_bands", "_upper", "_middle", "_lower")

    def __init__(self, bands: Bollinger, keys: tuple[str, ...]) -> None:  # FeatureSpec.keys: upper, middle, lower
        self._bands = bands
        self._upper, self._middle, self._lower = keys

    def write(self, candle: Candle, out: dict) -> None:
        bands = self._bands
        if bands.update(candle.close) is None:
            out[self._upper] = out[self._middle] = out[self._lower] = None
        else:
            out[self._upper], out[self._middle], out[self._lower] = bands.upper, bands.middle, bands.lower


class _Atr:
    __slots__ = ("_update", "_key")

    def __init__(self, atr: ATR, key: str) -> None:
        self._update, self._key = atr.update, key

    def write(self, candle: Candle, out: dict) -> None:
        out[self._key] = self._update(candle.high, candle.low, candle.close)


class _Volatility:
    """Sample std of the last N log returns `ln(close / previous close)`: the first value comes
    after N + 1 candles, like pandas' `np.log(close / close.shift()).rolling(N).std()`."""

    __slots__ = ("_update", "_key", "_prev")

    def __init__(self, std: RollingStd, key: str) -> None:
        self._update, self._key, self._prev = std.update, key, None

    def write(self, candle: Candle, out: dict) -> None:
        close, prev = candle.close, self._prev
        self._prev = close
        # Closes are > 0 (market.validation checks candles where they enter the process).
        out[self._key] = None if prev is None else self._update(math.log(close / prev))


class _VolumeRatio:
    """This candle's volume over the mean of the last N volumes, this one included (freqtrade's
    `volume / volume.rolling(N).mean()`): 1.0 is an ordinary candle, and a spike reads at most N.
    None until N candles, and while all N volumes are 0."""

    __slots__ = ("_update", "_key")

    def __init__(self, mean: SMA, key: str) -> None:
        self._update, self._key = mean.update, key

    def write(self, candle: Candle, out: dict) -> None:
        volume = candle.volume
        mean = self._update(volume)
        out[self._key] = volume / mean if mean else None


class _Vwap:
    __slots__ = ("_update", "_key")

    def __init__(self, vwap: AnchoredVWAP, key: str) -> None:
        self._update, self._key = vwap.update, key

    def write(self, candle: Candle, out: dict) -> None:
        ts_ms, _, high, low, close, volume = candle
        out[self._key] = self._update(ts_ms, high, low, close, volume)


def _writer(spec: FeatureSpec, day_of: Callable[[int], int]):
    kind, period = spec.kind, spec.period
    if kind == "bb":
        return _Bands(Bollinger(period, spec.dev), spec.keys)
    key = spec.text
    if kind == "sma":
        return _Close(SMA(period), key)
    if kind == "ema":
        return _Close(EMA(period), key)
    if kind == "rsi":
        return _Close(RSI(period), key)
    if kind == "atr":
        return _Atr(ATR(period), key)
    if kind == "volatility":
        return _Volatility(RollingStd(period, ddof=1), key)
    if kind == "volume_ratio":
        return _VolumeRatio(SMA(period), key)
    if kind == "vwap":  # the only anchor so far is "day"
        return _Vwap(AnchoredVWAP(day_of), key)
    raise AssertionError(f"no writer for {spec}")  # parse_spec lets through only the kinds above


class FeatureSet:
    """The values of `specs` (spec strings, see `strategies.features.specs`) for each closed
    candle fed in order.

    >>> features = FeatureSet(["ema:2", "vwap:day"])
    >>> features.update(Candle(0, 10.0, 12.0, 9.0, 11.0, 5.0))
    {'ema:2': None, 'vwap:day': 10.666666666666666}

    `update` returns a new dict per candle with every key of `keys`, None while that feature
    warms up; feed each candle once, oldest first. Raises ValueError for a bad spec.

    `day_of` numbers the day a candle opening at a time (UTC ms) belongs to, for the features
    that restart each day (`vwap:day`): UTC days by default, a bot's session days with its
    session's `TradingDays.day_of` (`market.trading_days`).
    """

    __slots__ = ("specs", "keys", "_writes", "_aliases")

    def __init__(self, specs: Iterable[str], *, day_of: Callable[[int], int] = utc_day) -> None:
        self.specs: tuple[FeatureSpec, ...] = parse_specs(specs)
        self.keys: tuple[str, ...] = tuple(key for spec in self.specs for key in spec.keys)
        first: dict[tuple, FeatureSpec] = {}
        self._writes = []
        self._aliases: list[tuple[str, str]] = []  # (key, key of the same value computed first)
        for spec in self.specs:
            same = first.setdefault(spec.compute_key, spec)
            if same is spec:
                self._writes.append(_writer(spec, day_of).write)
            else:
                self._aliases.extend(zip(spec.keys, same.keys))

    def update(self, candle: Candle) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for write in self._writes:
            write(candle, out)
        for key, same in self._aliases:
            out[key] = out[same]
        return out
