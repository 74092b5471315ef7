"""Features computed once per stream: `SharedFeatures` and the `FeatureHub` that hands them out.

Every bot of a stream calls `values_for(candle)` with each candle it reaches. The first caller
of a candle newer than any seen computes it (one `FeatureSet.update`); later callers of that
candle get the stored values. Bots move through a stream at different paces (one finishes its
warm-up before the next starts), so the values of the last `max_candles` candles are kept.

A candle that was never computed and is older than the newest one (a bot that joins with a
longer warm-up than the first, or one more than `max_candles` candles behind) gets all keys
None and counts in `misses`. Computing it is not possible: its values depend on the candles
before it, which this SharedFeatures never saw, and feeding them now would scramble the one
computation the others share. None is what a strategy already handles as "warming up", so the
late bot's features start at the first candle the stream computed, and are then the same
numbers every other bot of the stream reads.

So `max_candles` must exceed the largest lag between two readers of a stream (the daemon's bots
step together, apart from warm-ups), and bots run one after another over the same candles (a
backtest of several bots, bot by bot) must not share a hub. Each stored candle costs ~0.55 KB
with five specs (~5.5 MB per stream at the default 10,000).

Values are read-only mappings (`MappingProxyType`): one bot cannot change another's features.

Features that restart each day (`vwap:day`) depend on where a bot's days are cut: UTC midnight,
or its session's days in its zone (`days`, a `market.trading_days.TradingDays`). Bots whose
days differ share a computation only while none of its specs restarts by day.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import MappingProxyType

from market.models import Candle
from market.timeframes import TimeframeHub
from market.trading_days import TradingDays
from strategies.features.feature_set import FeatureSet, utc_day
from strategies.features.specs import parse_specs

DEFAULT_MAX_CANDLES = 10_000


class SharedFeatures:
    """One `FeatureSet` over one candle stream, fed once per candle by whichever reader gets
    there first; see the module docstring for what an older, never-computed candle gets.

    `computed` counts candles computed, `misses` the calls answered with None values. `days`
    cuts the days of the features that restart each day (None: UTC days).
    """

    __slots__ = ("keys", "max_candles", "computed", "misses", "days", "_set", "_last_ts_ms", "_store", "_order",
                 "_unknown")

    def __init__(self, specs: Iterable[str], *, max_candles: int = DEFAULT_MAX_CANDLES,
                 days: TradingDays | None = None) -> None:
        if max_candles < 1:
            raise ValueError(f"max_candles must be >= 1, got {max_candles}")
        self.max_candles = max_candles
        self.days = days
        self.computed = 0
        self.misses = 0
        self._last_ts_ms: float = float("-inf")
        self._store: dict[int, Mapping[str, float | None]] = {}
        self._order: deque[int] = deque(maxlen=max_candles)  # the stored timestamps, oldest first
        self._use(FeatureSet(specs, day_of=self._day_of()))

    @property
    def specs(self) -> tuple[str, ...]:
        return tuple(spec.text for spec in self._set.specs)

    def values_for(self, candle: Candle) -> Mapping[str, float | None]:
        """The features of `candle` (every key of `keys`; None while warming up or on a miss).

        Candles of one stream are told apart by `ts_ms`: call it with the stream's candles in
        order, each bot at its own pace."""
        ts_ms = candle.ts_ms
        if ts_ms > self._last_ts_ms:
            self._last_ts_ms = ts_ms
            values = MappingProxyType(self._set.update(candle))
            order = self._order
            if len(order) == self.max_candles:
                del self._store[order[0]]  # the append below drops it from the deque
            order.append(ts_ms)
            self._store[ts_ms] = values
            self.computed += 1
            return values
        values = self._store.get(ts_ms)
        if values is None:
            self.misses += 1
            return self._unknown
        return values

    def extend(self, specs: Iterable[str]) -> None:
        """Add `specs` to the set; only before the first candle (a feature added later would
        warm up at another candle than the others, and readers of the earlier candles would
        miss its key). Raises RuntimeError after it, ValueError for a bad spec."""
        if self.computed:
            raise RuntimeError(f"cannot add features after {self.computed} candles were computed")
        self._use(FeatureSet((*self.specs, *specs), day_of=self._day_of()))

    def fits(self, specs: Iterable[str], days: TradingDays | None) -> bool:
        """Whether a bot cutting its days by `days` may read `specs` from here, widened if need
        be: its days are these, or neither side has a feature that restarts by day."""
        if _days_key(days) == _days_key(self.days):
            return True
        return not any(spec.by_day for spec in (*self._set.specs, *parse_specs(specs)))

    def _day_of(self) -> Callable[[int], int]:
        return utc_day if self.days is None else self.days.day_of

    def _use(self, feature_set: FeatureSet) -> None:
        self._set = feature_set
        self.keys = feature_set.keys
        self._unknown = MappingProxyType(dict.fromkeys(feature_set.keys))


class FeatureHub:
    """Hands out one `SharedFeatures` per candle stream and set of specs, to all the bots of a
    daemon (or a backtest) that read that stream.

    `shared(stream_key, specs, days=...)` returns a SharedFeatures that computes at least `specs`
    with the bot's days (`days`, None: UTC; see the module docstring):

    - one already handed out for `stream_key` that covers them (same specs, or more);
    - else one for `stream_key` that has not computed a candle yet, widened to the union: bots
      built before their stream starts (the daemon's usual order) share one computation of all
      their features, and a bot simply finds extra keys in its mapping;
    - else a new one. A bot that asks for a feature the running stream lacks gets its own
      computation from its first candle on, rather than a feature that warmed up late.

    Two specs that differ only in how DEV is written are separate keys (see `specs`), computed
    once. `stream_key` is any hashable naming the candle stream (the daemon passes its feed key).
    Raises ValueError for a bad spec.

    `timeframes` aggregates the streams' higher-timeframe candles, once per stream likewise
    (`market.timeframes`), keeping as many base candles' worth.
    """

    def __init__(self, *, max_candles: int = DEFAULT_MAX_CANDLES) -> None:
        self._max_candles = max_candles
        self.timeframes = TimeframeHub(max_candles=max_candles)
        self._streams: dict[Hashable, list[SharedFeatures]] = {}

    def shared(self, stream_key: Hashable, specs: Iterable[str], *, days: TradingDays | None = None) -> SharedFeatures:
        wanted = tuple(spec.text for spec in parse_specs(specs))
        group = self._streams.setdefault(stream_key, [])
        for shared in group:
            if set(wanted) <= set(shared.specs) and shared.fits(wanted, days):
                return shared
        for shared in group:
            if not shared.computed and shared.fits(wanted, days):
                shared.extend(wanted)
                return shared
        shared = SharedFeatures(wanted, max_candles=self._max_candles, days=days)
        group.append(shared)
        return shared

    def __len__(self) -> int:
        """How many computations the hub runs (SharedFeatures over all streams)."""
        return sum(map(len, self._streams.values()))


def _days_key(days: TradingDays | None) -> tuple[str, int] | None:
    return None if days is None else days.key
