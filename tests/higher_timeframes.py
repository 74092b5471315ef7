"""Higher timeframes under test: an offline reference (pandas' `resample` over all the candles at
once) to compare with what `market.aggregate` builds one candle at a time, and a strategy that
records what it saw of a higher timeframe at each of its candles."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from market.models import Candle, timeframe_ms
from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.registry import register

# tag -> [(base candle's ts_ms, every higher candle its view held then, `parts` of the latest)]
RECORDED: dict[str, list[tuple[int, tuple[Candle, ...], int]]] = {}


def resampled(candles: Sequence[Candle], higher: str) -> list[tuple[Candle, int]]:
    """Each `higher` period holding at least one of `candles`, as (candle, base candles in it),
    oldest first, the first period dropped when the candles begin after its start. Weeks are
    pandas' own Monday-anchored weeks ("W-MON", labelled by their Monday), the rest are bins of
    the timeframe's length counted from the epoch."""
    frame = pd.DataFrame(list(candles), columns=Candle._fields)
    frame.index = pd.to_datetime(frame["ts_ms"], unit="ms", utc=True)
    if higher == "1w":
        bins = frame.resample("W-MON", closed="left", label="left")
    else:
        bins = frame.resample(pd.Timedelta(milliseconds=timeframe_ms(higher)), origin="epoch")
    table = bins.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
                      "ts_ms": "count"}).rename(columns={"ts_ms": "parts"})
    table = table[table["parts"] > 0]
    starts = [int(ts.value // 1_000_000) for ts in table.index]
    periods = [(Candle(start, row.open, row.high, row.low, row.close, row.volume), int(row.parts))
               for start, row in zip(starts, table.itertuples())]
    if periods and candles[0].ts_ms != periods[0][0].ts_ms:
        periods = periods[1:]           # begun mid-period: its start was never seen
    return periods


def same_candles(built: Sequence[Candle], reference: Sequence[Candle]) -> bool:
    """Equal candles, the volumes to 1e-12 relative (pandas sums them in another order)."""
    return len(built) == len(reference) and all(
        a[:5] == b[:5] and math.isclose(a.volume, b.volume, rel_tol=1e-12) for a, b in zip(built, reference))


def visible_at(periods: Sequence[tuple[Candle, int]], close_ms: int, higher: str) -> list[Candle]:
    """The candles of `periods` that have closed by `close_ms` (a base candle's close time)."""
    length = timeframe_ms(higher)
    return [candle for candle, _ in periods if candle.ts_ms + length <= close_ms]


class RecordsParams(StrategyParams):
    tag: str
    timeframe: str = "1h"
    bars: int = 2


@register
class RecordsHigherCandles(Strategy):
    """Gives no signal; records in `RECORDED[tag]` the candles of `timeframe` its view held at
    each base candle. Needs `bars` of them before its first signal (so its warm-up has them)."""

    name = "test_records_higher_candles"
    Params = RecordsParams

    @property
    def timeframes(self) -> tuple[str, ...]:
        return (self.params.timeframe,)

    def higher_warmup_bars(self, timeframe: str) -> int:
        return self.params.bars

    def generate_signal(self, market_data: MarketView) -> None:
        higher = market_data.timeframes[self.params.timeframe]
        RECORDED.setdefault(self.params.tag, []).append(
            (market_data.candle.ts_ms, tuple(higher.history()), higher.parts))
