"""What a candle loader hands on (`CleanResult`), and the gaps between its candles.

Pure Python, no numpy: the column checks of `market.validation` and the plain-CSV reader of
`market.plain_csv` (a backtest of a clean file, which imports no numpy) both end here, so the
gaps of a file are found and reported the same way whichever read it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, count, islice, repeat
from operator import lt, sub

from loguru import logger

from market.errors import MarketDataError
from market.models import Candle, iso_utc


@dataclass(slots=True)
class CleanResult:
    """Candles that passed, in time order, and what was left out.

    `rejected` maps a reason (a key such as "duplicate" or "high_below_low") to how many rows it
    dropped. `gaps` holds (ts_ms before the gap, ts_ms after it) for each pair of consecutive
    accepted candles more than one timeframe apart.
    """

    candles: list[Candle]
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: list[tuple[int, int]] = field(default_factory=list)


def find_gaps(source: str, ts: list[int], timeframe_ms: int | None) -> list[tuple[int, int]]:
    """Gaps between consecutive candles (`ts`: accepted open times, increasing), in one warning.

    With `timeframe_ms` None, the spacing is the most common step (the smaller one of a tie).
    Raises MarketDataError when `timeframe_ms` is given and is not the most common step: the
    data is another timeframe (a 5m file for a 1m bot), not a file full of gaps.
    """
    if len(ts) < 2:
        return []
    steps = list(map(sub, islice(ts, 1, None), ts))
    counts = Counter(steps)
    most = max(counts.values())
    usual = min(step for step, seen in counts.items() if seen == most)
    if timeframe_ms is None:
        timeframe_ms = usual
    elif len(steps) >= 2 and usual != timeframe_ms:   # the usual step, not any one: 1m data has 5m gaps
        raise MarketDataError(
            f"{source}: candles are {duration(usual)} apart, not {duration(timeframe_ms)}; "
            f"expected {duration(timeframe_ms)} candles (is this file for another timeframe?)")
    at = list(compress(count(), map(lt, repeat(timeframe_ms), steps)))   # steps wider than one timeframe
    if not at:
        return []
    missing = [-(-steps[i] // timeframe_ms) - 1 for i in at]   # a gap of 2.5 timeframes misses 2 candles
    widest = missing.index(max(missing))
    logger.warning("{}: {} gaps in the {} candles, {} candles missing in all; the largest is {} candles "
                   "from {}", source, len(at), duration(timeframe_ms), sum(missing),
                   missing[widest], iso_utc(ts[at[widest]] + timeframe_ms))
    return [(ts[i], ts[i + 1]) for i in at]


def duration(ms: int) -> str:
    """`ms` in the largest unit that divides it: "1m", "4h", "1500ms"."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
