"""A bot's higher timeframes: `MarketView.timeframes["1h"]`, fed from the base candles it pushes.

A strategy declares the timeframes it reads (`Strategy.timeframes`, e.g. ("1h",) on a 5m bot)
and the closed candles of each it needs before its first signal (`Strategy.higher_warmup_bars`).
The runner gives each base candle to `HigherTimeframes.on_candle` right after pushing it to the
bot's view, so when the strategy runs, `view.timeframes["1h"]` holds every 1h candle that has
closed by then and none that has not (`market.aggregate` says when one closes, and what a
period with missing candles gives). Sim, paper and live run the same code on the same candles,
so none of them can see a partial higher candle.

The aggregation is computed once per stream: a `TimeframeHub` hands the bots of a stream one
`SharedAggregation` per higher timeframe, fed by whichever bot reaches a base candle first, and
keeps the periods each base candle closed for the bots behind it. A bot whose first candle is
older than a running aggregation's first one (a longer warm-up than the bots before it) gets
an aggregation of its own, so it sees the history it asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping

from market.aggregate import Aggregator, Period, timeframe_ratio
from market.models import Candle, timeframe_ms
from market.view import MarketView

DEFAULT_WINDOW = 500                # closed higher candles a view keeps, as MarketView's own default
DEFAULT_MAX_CANDLES = 10_000        # base candles of periods a shared aggregation keeps for readers behind


def warmup_candles(base: str, needs: Mapping[str, int]) -> int:
    """Base candles of history that give at least `needs[tf]` closed candles of each `tf`:
    one period more than asked, as the history may begin inside a period (which is dropped)."""
    return max(((bars + 1) * timeframe_ratio(base, tf) for tf, bars in needs.items() if bars > 0), default=0)


def strategy_warmup_candles(strategy, base: str) -> int:
    """The bot's candles a strategy needs before its first signal: its own `warmup_bars`, or
    enough to build the higher-timeframe candles it needs (`warmup_candles`), whichever is more."""
    return max(strategy.warmup_bars, warmup_candles(base, strategy_needs(strategy)))


def strategy_needs(strategy) -> dict[str, int]:
    """A strategy's higher timeframes, each with the closed candles it needs before its first
    signal (`Strategy.timeframes`, `Strategy.higher_warmup_bars`)."""
    return {tf: strategy.higher_warmup_bars(tf) for tf in strategy.timeframes}


class HigherView(MarketView):
    """A `MarketView` of a higher timeframe, pushed a candle when one closes. Beside the candles:
    `parts`, how many base candles the latest one was built from, and `ratio`, how many a whole
    one holds; `complete` is False for a candle built with base candles missing."""

    __slots__ = ("parts", "ratio")

    def __init__(self, symbol: str, timeframe: str, ratio: int, *, window: int = DEFAULT_WINDOW) -> None:
        super().__init__(symbol, timeframe, window=window)
        self.ratio = ratio
        self.parts = 0

    @property
    def complete(self) -> bool:
        return self.parts == self.ratio

    def push_period(self, period: Period) -> None:
        self.push(period.candle)
        self.parts = period.parts


class SharedAggregation:
    """One `Aggregator` over one stream, fed by whichever reader first reaches a base candle;
    the periods a base candle closed are kept for the other readers (for `max_candles` base
    candles' time). `misses` counts calls for candles it cannot answer (before its first
    candle, or no longer kept): they get no period."""

    __slots__ = ("aggregator", "first_ts_ms", "misses", "_base_ms", "_keep_ms", "_last_ts_ms", "_store", "_order")

    def __init__(self, base: str, higher: str, *, max_candles: int = DEFAULT_MAX_CANDLES) -> None:
        if max_candles < 1:
            raise ValueError(f"max_candles must be >= 1, got {max_candles}")
        self.aggregator = Aggregator(base, higher)
        self.first_ts_ms: int | None = None
        self.misses = 0
        self._base_ms = timeframe_ms(base)
        self._keep_ms = max_candles * self._base_ms
        self._last_ts_ms = -1
        self._store: dict[int, tuple[Period, ...]] = {}    # base candle's ts -> the periods it closed
        self._order: deque[int] = deque()

    def can_serve_from(self, ts_ms: int) -> bool:
        """Whether a reader whose first base candle is at `ts_ms` sees every period from here:
        nothing fed yet, or `ts_ms` within what was fed (or right after it) and still kept."""
        if self.first_ts_ms is None:
            return True
        last = self._last_ts_ms
        return self.first_ts_ms <= ts_ms <= last + self._base_ms and ts_ms > last - self._keep_ms

    def closed_at(self, candle: Candle) -> tuple[Period, ...]:
        """The periods `candle` closed, oldest first (mostly none). Call with the stream's
        candles in order, each reader at its own pace."""
        ts_ms = candle.ts_ms
        if ts_ms > self._last_ts_ms:
            if self.first_ts_ms is None:
                self.first_ts_ms = ts_ms
            self._last_ts_ms = ts_ms
            periods = self.aggregator.update(candle)
            if periods:
                order = self._order
                self._store[ts_ms] = periods
                order.append(ts_ms)
                horizon = ts_ms - self._keep_ms
                while order[0] <= horizon:
                    del self._store[order.popleft()]
            return periods
        if self.first_ts_ms is not None and (ts_ms < self.first_ts_ms or ts_ms <= self._last_ts_ms - self._keep_ms):
            self.misses += 1
        return self._store.get(ts_ms, ())


class TimeframeHub:
    """Hands out the `SharedAggregation` of a stream and timeframe to each bot that reads it,
    at the bot's first base candle: one that can serve it from there, else a new one."""

    def __init__(self, *, max_candles: int = DEFAULT_MAX_CANDLES) -> None:
        self._max_candles = max_candles
        self._streams: dict[tuple[Hashable, str, str], list[SharedAggregation]] = {}

    def claim(self, stream_key: Hashable, base: str, higher: str, first_ts_ms: int) -> SharedAggregation:
        group = self._streams.setdefault((stream_key, base, higher), [])
        for shared in group:
            if shared.can_serve_from(first_ts_ms):
                return shared
        shared = SharedAggregation(base, higher, max_candles=self._max_candles)
        group.append(shared)
        return shared

    def __len__(self) -> int:
        """How many aggregations the hub runs, over all streams and timeframes."""
        return sum(map(len, self._streams.values()))


class HigherTimeframes:
    """The higher-timeframe views of one bot on `symbol` and `base` timeframe (the runner puts
    them in its view's `timeframes`), each pushed a candle as one closes. `needs` maps each
    timeframe to the closed candles the strategy needs of it (its view keeps at least that
    many). Raises ValueError for a timeframe that is not a whole multiple of `base` above it.

    With a `hub`, each timeframe's aggregation is shared with the other bots of `stream_key`;
    without, the bot has its own aggregators (a backtest)."""

    __slots__ = ("views", "_base", "_hub", "_stream_key", "_aggregations", "_readers")

    def __init__(self, symbol: str, base: str, needs: Mapping[str, int], *, hub: TimeframeHub | None = None,
                 stream_key: Hashable | None = None) -> None:
        self.views: dict[str, HigherView] = {
            tf: HigherView(symbol, tf, timeframe_ratio(base, tf), window=max(DEFAULT_WINDOW, bars))
            for tf, bars in needs.items()}
        self._base = base
        self._hub = hub if stream_key is not None else None
        self._stream_key = stream_key
        self._aggregations: list[SharedAggregation] = []
        # (aggregation's closed_at, view's push_period) per timeframe: bound once, at the first
        # candle (where the aggregations are claimed), not looked up on every candle
        self._readers: list[tuple] | None = None

    def on_candle(self, candle: Candle) -> None:
        """Push to each view the candles that `candle` (the bot's newest base candle) closed."""
        readers = self._readers
        if readers is None:
            readers = self._claim_all(candle.ts_ms)
        for closed_at, push in readers:
            periods = closed_at(candle)
            if periods:
                for period in periods:
                    push(period)

    def aggregations(self) -> list[SharedAggregation]:
        """The shared aggregations this bot reads (claimed at its first candle; none without a hub)."""
        return list(self._aggregations)

    def _claim_all(self, first_ts_ms: int) -> list[tuple]:
        if self._hub is None:       # the bot's own: the aggregator itself, without the sharing around it
            self._readers = [(Aggregator(self._base, tf).update, view.push_period) for tf, view in self.views.items()]
            return self._readers
        self._aggregations = [self._hub.claim(self._stream_key, self._base, tf, first_ts_ms) for tf in self.views]
        self._readers = [(shared.closed_at, view.push_period)
                         for shared, view in zip(self._aggregations, self.views.values())]
        return self._readers
