"""Tick files for backtests: trades (`datetime, symbol, price, volume`) made into candles.

    result = load_tick_candles("data/btc-ticks.csv", symbol="BTC/USDT", timeframe="1m")
    result.candles      # what a candle file of the same trades would hold

The file is read by `market.ticks_read`; here its rows are checked and aggregated.

- A candle is the trades of one period of the bot's timeframe, aligned to UTC boundaries
  (`market.tick_periods`): open the first trade's price, high the highest, low the lowest,
  close the last, volume the sum. "First" and "last" are by time; trades with the same time
  keep their order in the file. Identical rows are separate trades (markets repeat trades).
- A period with no trade gives no candle. The missing periods are gaps, treated as a candle
  file's gaps are (`market.validation`): reported in one warning, never filled with made-up
  candles, and the strategy sees the next candle that exists.
- Out of order: a trade older than the one before it is fine while it falls in the candle still
  open (the newest trade's period): it takes its place by time. A trade of a period that a
  later trade has already closed is late and dropped, counted and warned about, never folded
  into its candle: the live trade feed (`market.trade_feed`) has emitted that candle by then,
  and a backtest must see what a live bot would have seen.
- Bad rows (a missing or unreadable datetime, a price that is missing, not a number, <= 0 or
  out of range, a negative or missing volume, the wrong number of fields) are dropped with a
  warning naming the file, line and field, at most `MAX_ROW_WARNINGS`, then one summary. A
  file losing more than half its rows of the symbol is refused, as a candle file is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from loguru import logger

from market.errors import MarketDataError
from market.limits import MAX_PRICE, MAX_TS_MS, MAX_VOLUME, MIN_PRICE, MIN_TS_MS
from market.models import Candle, iso_utc, timeframe_ms as to_ms
from market.tick_periods import period_shift_ms
from market.ticks_read import EXPECTED_TICKS, read_tick_table
from market.validation import MAX_ROW_WARNINGS

_REASONS = {
    "malformed": "malformed: not the fields datetime, symbol, price, volume of the header",
    "bad_datetime": f"datetime is missing, not a date or outside {iso_utc(MIN_TS_MS)[:4]}..{iso_utc(MAX_TS_MS)[:4]}",
    "bad_price": "price is missing, not a number or infinite",
    "non_positive_price": "price is {price}; prices must be > 0",
    "price_out_of_range": f"price is {{price}}; prices must be within [{MIN_PRICE:g}, {MAX_PRICE:g}]",
    "bad_volume": "volume is missing, not a number or infinite",
    "negative_volume": "volume is {volume}; it must be >= 0",
    "volume_out_of_range": f"volume is {{volume}}; it must be at most {MAX_VOLUME:g}",
    "late": "datetime {ts} is in the {timeframe} candle of {candle}, which a later trade (line {closer}) had "
            "already closed; late trades are dropped, as the live feed drops them",
}


@dataclass(slots=True)
class TickCandles:
    """Candles made from a tick file, and what went into them: `ticks` trades used, `rejected`
    bad rows by reason (late trades under "late"), `gaps` (open time before, open time after)
    of each run of periods without a trade."""

    candles: list[Candle]
    ticks: int
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: list[tuple[int, int]] = field(default_factory=list)


def load_tick_candles(path: Path | str, *, symbol: str, timeframe: str, start: datetime | None = None,
                      end: datetime | None = None) -> TickCandles:
    """The `timeframe` candles of `symbol`'s trades in the tick file `path`, whose open time is
    in [start, end) (naive datetimes are UTC).

    Raises MarketDataError, its message starting with the path, when the file cannot be read,
    lacks a column, has no trade of `symbol` (naming the symbols it has), has none left in the
    range, or loses more than half of the symbol's rows to checks.
    """
    started = time.perf_counter()
    path = Path(os.path.abspath(path))
    tf_ms = to_ms(timeframe)
    table = read_tick_table(path, symbol)
    if not len(table.ts_ms):
        seen = sorted(table.symbols_seen)
        # Trades of other names: most likely the exchange's name for this one (XBTUSD), which
        # market.symbol maps; none at all: the file is not what a tick file looks like.
        hint = (f"where the file names the bot's symbol otherwise, say so in its config: "
                f"market: {{source: ticks, path: ..., symbol: {seen[0]}}}" if seen else EXPECTED_TICKS)
        raise MarketDataError(f"{path}: no trades of {symbol}; symbols in the file: {', '.join(seen[:10]) or 'none'}; "
                              f"{hint}")
    shift = period_shift_ms(tf_ms)
    with np.errstate(invalid="ignore"):
        period = np.floor((table.ts_ms - shift) / tf_ms) * tf_ms + shift    # NaN stays NaN
        keep = np.ones(len(period), dtype=bool)
        if start is not None:
            keep &= ~(period < _ms(start))
        if end is not None:
            keep &= ~(period >= _ms(end))
    ts, price, volume, lines = table.ts_ms[keep], table.price[keep], table.volume[keep], table.lines[keep]
    period, malformed = period[keep], table.malformed[keep]
    if not len(ts):
        raise MarketDataError(f"{path}: no trades of {symbol} from {start or 'the start'} to {end or 'the end'}; "
                              f"the file covers {_covers(table.ts_ms)}")
    reason = _check(ts, price, volume, malformed)
    late = _late(period, reason)
    reason[late] = list(_REASONS).index("late") + 1
    rejected = _report(path, reason, ts, price, volume, period, lines, timeframe)
    used = np.flatnonzero(reason == 0)
    if not len(used):
        raise MarketDataError(f"{path}: all {len(ts)} trades of {symbol} were rejected ({_counts(rejected)})")
    bad = sum(n for name, n in rejected.items() if name != "late")
    if bad > len(ts) // 2:
        raise MarketDataError(f"{path}: {bad} of {len(ts)} rows of {symbol} were rejected ({_counts(rejected)}); "
                              "more than half: fix the file rather than trade on what is left")
    # Periods never go back among the rows kept, so a stable sort by time only reorders
    # trades inside their own period.
    order = used[np.argsort(ts[used], kind="stable")]
    candles = aggregate(period[order].astype(np.int64), price[order], volume[order])
    gaps = _gaps(path, candles, tf_ms, timeframe)
    logger.info("Made {} {} candles from {} trades of {} in {} ({} .. {}), {} rows skipped, in {:.0f} ms",
                len(candles), timeframe, len(order), symbol, path, iso_utc(candles[0].ts_ms), iso_utc(candles[-1].ts_ms),
                sum(rejected.values()), (time.perf_counter() - started) * 1000)
    return TickCandles(candles, len(order), rejected, gaps)


def aggregate(period_ms: np.ndarray, price: np.ndarray, volume: np.ndarray) -> list[Candle]:
    """One candle per run of equal `period_ms` (trades in time order): first, max, min and last
    price, summed volume."""
    starts = np.concatenate(([0], np.flatnonzero(np.diff(period_ms)) + 1))
    ends = np.concatenate((starts[1:], [len(period_ms)])) - 1
    columns = (period_ms[starts].tolist(), price[starts].tolist(), np.maximum.reduceat(price, starts).tolist(),
               np.minimum.reduceat(price, starts).tolist(), price[ends].tolist(),
               np.add.reduceat(volume, starts).tolist())
    return list(map(Candle._make, zip(*columns)))


def _check(ts: np.ndarray, price: np.ndarray, volume: np.ndarray, malformed: np.ndarray) -> np.ndarray:
    """Per row, 0 if good, else 1 + the index in `_REASONS` of the first reason that applies."""
    reason = np.zeros(len(ts), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        masks = [
            malformed,
            ~((ts >= MIN_TS_MS) & (ts < MAX_TS_MS)),
            ~np.isfinite(price),
            price <= 0,
            (price < MIN_PRICE) | (price > MAX_PRICE),
            ~np.isfinite(volume),
            volume < 0,
            volume > MAX_VOLUME,
        ]
    for k, mask in enumerate(masks, start=1):
        reason[(reason == 0) & mask] = k
    return reason


def _late(period: np.ndarray, reason: np.ndarray) -> np.ndarray:
    """Good rows whose period is older than a good row's before them in the file."""
    late = np.zeros(len(period), dtype=bool)
    good = np.flatnonzero(reason == 0)
    if len(good):
        newest = np.maximum.accumulate(period[good])
        late[good[period[good] < newest]] = True
    return late


def _report(path: Path, reason: np.ndarray, ts, price, volume, period, lines, timeframe: str) -> dict[str, int]:
    names = list(_REASONS)
    counts = np.bincount(reason, minlength=len(names) + 1)[1:]
    rejected = {name: int(n) for name, n in zip(names, counts) if n}
    bad = np.flatnonzero(reason)
    for i in bad[:MAX_ROW_WARNINGS].tolist():
        name = names[reason[i] - 1]
        detail = _REASONS[name]
        if name == "late":
            closer = int(np.flatnonzero((reason == 0) & (period > period[i]))[0])
            detail = detail.format(ts=_iso_ms(ts[i]), timeframe=timeframe, candle=iso_utc(int(period[i])),
                                   closer=int(lines[closer]))
        else:
            detail = detail.format(price=price[i], volume=volume[i])
        logger.warning("{} line {}: {}; row skipped", path, int(lines[i]), detail)
    if len(bad) > MAX_ROW_WARNINGS:
        logger.warning("{}: skipped {} rows in all ({}); only the first {} are listed above", path, len(bad),
                       _counts(rejected), MAX_ROW_WARNINGS)
    return rejected


def _gaps(path: Path, candles: list[Candle], tf_ms: int, timeframe: str) -> list[tuple[int, int]]:
    """Runs of periods without a trade, reported in one warning like a candle file's gaps."""
    opens = np.fromiter((c.ts_ms for c in candles), dtype=np.int64, count=len(candles))
    steps = np.diff(opens)
    at = np.flatnonzero(steps > tf_ms)
    if not len(at):
        return []
    missing = steps[at] // tf_ms - 1
    widest = int(np.argmax(missing))
    logger.warning("{}: {} gaps in the {} candles made from trades (periods without a trade give no candle), "
                   "{} candles missing in all; the largest is {} candles from {}", path, len(at), timeframe,
                   int(missing.sum()), int(missing[widest]), iso_utc(int(opens[at[widest]]) + tf_ms))
    return list(zip(opens[at].tolist(), opens[at + 1].tolist()))


def _covers(ts: np.ndarray) -> str:
    finite = ts[np.isfinite(ts)]
    return f"{iso_utc(int(finite.min()))} .. {iso_utc(int(finite.max()))}" if len(finite) else "no readable datetime"


def _counts(rejected: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in rejected.items())


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
